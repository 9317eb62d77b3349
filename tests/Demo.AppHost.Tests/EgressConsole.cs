using System.Globalization;
using System.Text.RegularExpressions;

namespace Demo.AppHost.Tests;

/// <summary>One Envoy-style access-log line of the local egress gateway.</summary>
public sealed record AccessLogEntry(int Number, string Stage, int Status, IReadOnlySet<string> Flags, int Attempts, string Route,
    string Cluster, DateTimeOffset? CapturedAt, string Text);

/// <summary>The egress gateway's console: access-log lines and configuration (re)loads.</summary>
public sealed partial class EgressConsole
{
    private EgressConsole(List<AccessLogEntry> access, List<(int Number, int Revision, DateTimeOffset? At)> applied)
    {
        Access = access;
        Applied = applied;
    }

    public IReadOnlyList<AccessLogEntry> Access { get; }

    /// <summary>"Applied Istio configuration revision N" lines: the start, and every hot reload.</summary>
    public IReadOnlyList<(int Number, int Revision, DateTimeOffset? At)> Applied { get; }

    public static EgressConsole Parse(IReadOnlyList<ConsoleLine> console)
    {
        var access = new List<AccessLogEntry>();
        var applied = new List<(int, int, DateTimeOffset?)>();
        foreach (var line in console)
        {
            if (AccessLine().Match(line.Text) is { Success: true } a)
            {
                var flags = a.Groups["flags"].Value == "-" ? [] : a.Groups["flags"].Value.Split(',').ToHashSet(StringComparer.Ordinal);
                access.Add(new AccessLogEntry(line.Number, a.Groups["stage"].Value,
                    int.Parse(a.Groups["status"].Value, CultureInfo.InvariantCulture), flags,
                    int.Parse(a.Groups["attempts"].Value, CultureInfo.InvariantCulture),
                    a.Groups["route"].Value, a.Groups["cluster"].Value, line.CapturedAt, line.Text.Trim()));
            }
            else if (AppliedLine().Match(line.Text) is { Success: true } r)
            {
                applied.Add((line.Number, int.Parse(r.Groups["revision"].Value, CultureInfo.InvariantCulture), line.CapturedAt));
            }
        }
        return new EgressConsole(access, applied);
    }

    [GeneratedRegex(@"^\s*\[(?<stage>sidecar|gateway)\] ""\S+ \S+ \S+"" (?<status>\d{3}) (?<flags>\S+) attempts=(?<attempts>\d+) route=(?<route>\S+) cluster=(?<cluster>\S+) ")]
    private static partial Regex AccessLine();

    [GeneratedRegex(@"^\s*Applied Istio configuration revision (?<revision>\d+) from ")]
    private static partial Regex AppliedLine();
}
