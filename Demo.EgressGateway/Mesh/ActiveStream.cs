using System.Diagnostics;

namespace Demo.EgressGateway.Mesh;

/// <summary>
/// One downstream request in one proxy — the caller's sidecar or the egress gateway, each handling its own request
/// (Envoy's <c>ConnectionManagerImpl::ActiveStream</c>, <c>source/common/http/conn_manager_impl.h</c>); nothing request-scoped crosses between the two but what goes on the
/// wire.
/// </summary>
public sealed class ActiveStream(HttpContext context, MeshSnapshot config, string stage, string listener)
{
    public const string Sidecar = "sidecar";
    public const string Gateway = "gateway";

    public HttpContext Context { get; } = context;
    public MeshSnapshot Config { get; } = config;
    public StreamInfo Frame { get; } = new(stage, listener);
    public bool IsSidecar => Frame.Stage == Sidecar;

    /// <summary>The proxy's configuration: the sidecar's or the gateway's listeners, routes and clusters.</summary>
    public ProxyRuntime Proxy => IsSidecar ? Config.Sidecar : Config.Gateway;

    /// <summary>The Host the request carries at the current stage (rewritten per destination).</summary>
    public string Authority { get; set; } = "";

    public MeshTransformer Transformer => field ??= new MeshTransformer(this);

    /// <summary>The gateway: the route configuration of the filter chain its connection matched, and the Service port.</summary>
    public RouteConfigurationRuntime? Routes { get; set; }
    public int ListenerPort { get; set; }

    /// <summary>The gateway filter chain's <c>tracing.spawn_upstream_span</c>: a client span per upstream request.</summary>
    public bool SpawnsUpstreamSpan { get; set; }

    /// <summary>Whether this proxy's router is going to retry a response with this status — then it must not reach the client yet.</summary>
    public bool WouldRetry(int status) =>
        Frame.Route is { } route && Frame.Attempts <= route.Retry.Attempts && route.Retry.RetriesStatus(status);
}

/// <summary>
/// What one proxy did with its downstream request (Envoy's StreamInfo: route, picked cluster, attempts, response code
/// and flags, the upstream host and timing) — what its access-log line, span and metrics are written from.
/// </summary>
public sealed class StreamInfo(string stage, string listener)
{
    public string Stage { get; } = stage;
    public string Listener { get; set; } = listener;
    public RouteEntry? Route { get; set; }
    public WeightedClusterEntry? Destination { get; set; }

    /// <summary>The endpoint of the current attempt, and those tried before (for the previous_hosts retry predicate).</summary>
    public HostRuntime? Host { get; set; }
    public List<HostRuntime> AttemptedHosts { get; } = [];

    /// <summary>The current attempt holds one of the cluster's max_retries slots.</summary>
    public bool RetryInFlight { get; set; }

    /// <summary>The path as this proxy received it (Istio's access log: <c>%REQ(X-ENVOY-ORIGINAL-PATH?:PATH)%</c>).</summary>
    public string Path { get; set; } = "/";

    /// <summary>Envoy's <c>%RESPONSE_CODE_DETAILS%</c> for a local reply (e.g. <c>cluster_not_found</c>, <c>filter_chain_not_found</c>).</summary>
    public string? Details { get; set; }
    public string Authority { get; set; } = "";
    public int Attempts { get; set; }
    public int Status { get; set; }
    public ResponseFlags Flags { get; set; }
    public string? UpstreamHost { get; set; }
    public long StartTimestamp { get; set; }

    /// <summary>When the route timeout started (after the fault filter): retries' expected timeouts count from it.</summary>
    public long RouteTimerStart { get; set; }
    public Activity? Activity { get; set; }

    /// <summary>The running try's per-try timer, when the route has a per-try timeout; null between tries.</summary>
    public PerTryTimer? PerTryTimer { get; set; }

    /// <summary>
    /// Cancelled when this proxy's downstream goes away: the client for the sidecar, the sidecar's attempt for the
    /// gateway. Envoy's router resets its upstream requests then (<c>Filter::onDestroy</c> → <c>resetAll</c>) without
    /// an outlier-detection result; only its own timeouts count as <c>LocalOriginTimeout</c>.
    /// </summary>
    public CancellationToken Downstream { get; set; }
}
