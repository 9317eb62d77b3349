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
}
