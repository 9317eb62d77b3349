using System.ComponentModel.DataAnnotations;

namespace Demo.Caller;

public sealed class CallerOptions
{
    public const string SectionName = "Caller";

    /// <summary>The proxy, by service-discovery name (<c>http://proxy</c>) or any absolute URL.</summary>
    [Required]
    public Uri ProxyUrl { get; set; } = new("http://proxy/");

    [Range(typeof(TimeSpan), "00:00:00.010", "01:00:00")]
    public TimeSpan Interval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>Each call is abandoned after this long and printed as an error; ticks never wait on each other.</summary>
    [Range(typeof(TimeSpan), "00:00:00.010", "00:10:00")]
    public TimeSpan RequestTimeout { get; set; } = TimeSpan.FromSeconds(10);
}
