using System.ComponentModel.DataAnnotations;

namespace Demo.Proxy;

public sealed class UpstreamOptions
{
    public const string SectionName = "Upstream";

    /// <summary>
    /// The one external service this proxy calls, by its in-mesh name. Never taken from a request.
    /// </summary>
    [Required]
    public Uri BaseAddress { get; set; } = new("http://hello.external/");

    /// <summary>
    /// Local run only: the local egress gateway, used as the HTTP proxy of the upstream client — what
    /// sidecar interception does in a cluster. Unset in a cluster.
    /// </summary>
    public Uri? HttpProxy { get; set; }

    /// <summary>
    /// Local run only, for an <c>https://</c> <see cref="BaseAddress"/> (the passthrough pattern, where the app does TLS
    /// itself): a PEM file of the CA that issued the local CF router's certificate, trusted besides the system's
    /// roots. Unset in a cluster, where the platform's certificate chains to a public root.
    /// </summary>
    public string? TrustedCaPath { get; set; }

    /// <summary>A backstop only; the mesh's route timeout is the real one and should be shorter.</summary>
    [Range(typeof(TimeSpan), "00:00:01", "00:10:00")]
    public TimeSpan Timeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// Client-side retries on the upstream call. Off by default because the mesh owns retries and
    /// timeouts (VirtualService <c>retries</c>/<c>timeout</c>); turning it on multiplies attempts.
    /// </summary>
    public UpstreamClientResilience ClientResilience { get; set; } = UpstreamClientResilience.None;
}

public enum UpstreamClientResilience
{
    None,
    Standard,
}
