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
}

public static class ResponseFlagsExtensions
{
    private static readonly (ResponseFlags Flag, string Code)[] Codes =
    [
        (ResponseFlags.NoHealthyUpstream, "UH"),
        (ResponseFlags.UpstreamConnectionFailure, "UF"),
        (ResponseFlags.UpstreamOverflow, "UO"),
        (ResponseFlags.NoRouteFound, "NR"),
        (ResponseFlags.UpstreamRetryLimitExceeded, "URX"),
        (ResponseFlags.UpstreamRemoteReset, "UR"),
        (ResponseFlags.DownstreamConnectionTermination, "DC"),
        (ResponseFlags.UpstreamRequestTimeout, "UT"),
        (ResponseFlags.DelayInjected, "DI"),
        (ResponseFlags.FaultInjected, "FI"),
    ];

    private static readonly System.Collections.Concurrent.ConcurrentDictionary<ResponseFlags, string> Cache = new();

    /// <summary>Envoy's notation: <c>UF,URX</c>, or <c>-</c> for none.</summary>
    public static string ToEnvoyString(this ResponseFlags flags) =>
        flags == ResponseFlags.None ? "-" : Cache.GetOrAdd(flags, static f =>
            string.Join(',', Codes.Where(c => f.HasFlag(c.Flag)).Select(c => c.Code)));
}
