namespace Demo.Tests;

/// <summary>What the local mesh's access-log lines say about the hop between its two proxies.</summary>
internal static class MeshAccessLog
{
    /// <summary>
    /// How many of the tries of a sidecar line (<c>[sidecar] "GET / HTTP/1.1" 200 - attempts=1 route=… cluster=outbound|443|v1|istio-egressgateway…</c>)
    /// reached the egress gateway, which then logs one line of its own for each: all of them when the cluster is the
    /// gateway's, unless the flags say they failed before it answered (<c>UF</c>, <c>UH</c>, <c>UO</c>, <c>NC</c>,
    /// <c>NR</c>, <c>DC</c>); 0 for any other line. When the route timeout ended the request
    /// (<c>details=upstream_response_timeout</c>), its last try counts as not reached: the route timer also runs while a
    /// try waits for its connection (Envoy's router arms it when the downstream request ends and only the per-try timer
    /// at pool ready), so that try may have been cut before its request left the sidecar, and then the gateway has
    /// nothing to log for it.
    /// </summary>
    public static int TriesThatReachedTheGateway(string? sidecarLine)
    {
        if (sidecarLine is null || !sidecarLine.Contains("|istio-egressgateway.", StringComparison.Ordinal))
        {
            return 0;
        }
        var parts = sidecarLine.Split(' ');
        var flagsAt = Array.FindIndex(parts, p => p.StartsWith("attempts=", StringComparison.Ordinal)) - 1;
        if (flagsAt < 1 || !int.TryParse(parts[flagsAt + 1]["attempts=".Length..], out var attempts))
        {
            return 0;
        }
        var flags = parts[flagsAt].Split(',');
        if (flags.Any(f => f is "UF" or "UH" or "UO" or "NC" or "NR" or "DC"))
        {
            return 0;
        }
        return sidecarLine.Contains(" details=upstream_response_timeout ", StringComparison.Ordinal) ? attempts - 1 : attempts;
    }

    /// <summary>The flags of an access-log line (<c>… 504 UT attempts=…</c> → [<c>UT</c>]; <c>-</c> → none).</summary>
    public static IReadOnlyList<string> Flags(string line)
    {
        var parts = line.Split(' ');
        var at = Array.FindIndex(parts, p => p.StartsWith("attempts=", StringComparison.Ordinal)) - 1;
        return at < 1 || parts[at] == "-" ? [] : parts[at].Split(',');
    }

    /// <summary>The duration a proxy logged for its request, on its own clock (the line's last field, <c>1000.4ms</c>).</summary>
    /// <exception cref="FormatException">The line does not end in a duration.</exception>
    public static TimeSpan Duration(string line)
    {
        var last = line.TrimEnd()[(line.TrimEnd().LastIndexOf(' ') + 1)..];
        return last.EndsWith("ms", StringComparison.Ordinal)
            && double.TryParse(last[..^2], System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out var ms)
            ? TimeSpan.FromMilliseconds(ms)
            : throw new FormatException($"no duration at the end of '{line}'");
    }
}
