namespace Demo.EgressGateway.Mesh;

/// <summary>Envoy's access-log response flags, the ones this gateway can produce.</summary>
[Flags]
public enum ResponseFlags
{
    None = 0,
    /// <summary>FI: the request was aborted with a fault.</summary>
    FaultInjected = 1,
    /// <summary>DI: the request was delayed by a fault.</summary>
    DelayInjected = 2,
    /// <summary>UT: upstream request timeout.</summary>
    UpstreamRequestTimeout = 4,
    /// <summary>URX: retries exhausted (or the upstream gave up).</summary>
    UpstreamRetryLimitExceeded = 8,
    /// <summary>UF: upstream connection failure (connect or TLS).</summary>
    UpstreamConnectionFailure = 16,
    /// <summary>UO: upstream overflow (circuit breaking by connectionPool).</summary>
    UpstreamOverflow = 32,
    /// <summary>NR: no route configured (or a host not in the registry).</summary>
    NoRouteFound = 64,
    /// <summary>UH: no healthy upstream (every endpoint ejected).</summary>
    NoHealthyUpstream = 128,
    /// <summary>UR: upstream remote reset.</summary>
    UpstreamRemoteReset = 256,
    /// <summary>DC: downstream connection termination.</summary>
    DownstreamConnectionTermination = 512,
    /// <summary>UC: upstream connection termination — what an HTTP/1.1 upstream closing its connection before or during the response gives.</summary>
    UpstreamConnectionTermination = 1024,
    /// <summary>NC: upstream cluster not found (the route names a cluster this proxy does not have).</summary>
    NoClusterFound = 2048,
}

public static class ResponseFlagsExtensions
{
    // In the order of Envoy's table (source/common/stream_info/utility.h ALL_RESPONSE_STRINGS_FLAGS), which is
    // the order %RESPONSE_FLAGS% prints them in, e.g. "UF,URX".
    private static readonly (ResponseFlags Flag, string Code)[] Codes =
    [
        (ResponseFlags.NoHealthyUpstream, "UH"),
        (ResponseFlags.UpstreamRequestTimeout, "UT"),
        (ResponseFlags.UpstreamRemoteReset, "UR"),
        (ResponseFlags.UpstreamConnectionFailure, "UF"),
        (ResponseFlags.UpstreamConnectionTermination, "UC"),
        (ResponseFlags.UpstreamOverflow, "UO"),
        (ResponseFlags.NoRouteFound, "NR"),
        (ResponseFlags.DelayInjected, "DI"),
        (ResponseFlags.FaultInjected, "FI"),
        (ResponseFlags.DownstreamConnectionTermination, "DC"),
        (ResponseFlags.UpstreamRetryLimitExceeded, "URX"),
        (ResponseFlags.NoClusterFound, "NC"),
    ];

    private static readonly System.Collections.Concurrent.ConcurrentDictionary<ResponseFlags, string> Cache = new();

    /// <summary>Envoy's notation: <c>UF,URX</c>, or <c>-</c> for none.</summary>
    public static string ToEnvoyString(this ResponseFlags flags) =>
        flags == ResponseFlags.None ? "-" : Cache.GetOrAdd(flags, static f =>
            string.Join(',', Codes.Where(c => f.HasFlag(c.Flag)).Select(c => c.Code)));
}
