using System.Globalization;
using System.Text.RegularExpressions;

namespace Demo.EgressGateway.Istio;

/// <summary>Go/protobuf durations as Istio writes them: <c>5s</c>, <c>250ms</c>, <c>1m30s</c>, <c>1.5s</c>.</summary>
public static partial class Durations
{
    [GeneratedRegex(@"\G(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)", RegexOptions.CultureInvariant)]
    private static partial Regex Part();

    public static bool TryParse(string text, out TimeSpan value)
    {
        value = TimeSpan.Zero;
        if (string.IsNullOrEmpty(text) || text.Length > 64)
        {
            return false;
        }
        if (text == "0")
        {
            return true;
        }
        var position = 0;
        double ticks = 0;
        while (position < text.Length)
        {
            var match = Part().Match(text, position);
            if (!match.Success)
            {
                return false;
            }
            var number = double.Parse(match.Groups[1].Value, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture);
            ticks += number * match.Groups[2].Value switch
            {
                "ns" => TimeSpan.TicksPerMicrosecond / 1000.0,
                "us" or "µs" => TimeSpan.TicksPerMicrosecond,
                "ms" => TimeSpan.TicksPerMillisecond,
                "s" => TimeSpan.TicksPerSecond,
                "m" => TimeSpan.TicksPerMinute,
                _ => TimeSpan.TicksPerHour,
            };
            position += match.Length;
        }
        if (ticks > TimeSpan.FromDays(3650).Ticks)
        {
            return false;
        }
        value = TimeSpan.FromTicks((long)ticks);
        return true;
    }

    /// <summary>A duration as messages write it: <c>250ms</c>, <c>1.5s</c>.</summary>
    public static string Format(TimeSpan value) =>
        value.TotalMilliseconds < 1000 ? $"{value.TotalMilliseconds:0.###}ms" : $"{value.TotalSeconds:0.###}s";
}
