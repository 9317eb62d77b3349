using System.Diagnostics;

namespace Demo.EgressGateway.Mesh;

/// <summary>One request's passage through the emulated proxies: the sidecar (depth 0) and the egress gateway (depth 1).</summary>
public sealed class MeshRequest(HttpContext context, MeshConfig config)
{
    public const int SidecarDepth = 0;
    public const int GatewayDepth = 1;

    public HttpContext Context { get; } = context;
    public MeshConfig Config { get; } = config;
    public StageFrame[] Frames { get; } = [new("sidecar", Istio.MeshEnvironment.MeshGateway), new("gateway", "")];

    /// <summary>The Host the request carries at the current stage (rewritten per destination).</summary>
    public string Authority { get; set; } = "";

    public MeshTransformer Transformer => field ??= new MeshTransformer(this);

    /// <summary>The egress gateway's route configuration for this connection (chosen by SNI), and its filter chain's name.</summary>
    public RouteTable? GatewayRoutes { get; set; }
    public string? GatewayListener { get; set; }

    /// <summary>The gateway filter chain's <c>tracing.spawn_upstream_span</c>: a client span per upstream request.</summary>
    public bool GatewaySpawnsUpstreamSpan { get; set; }

    /// <summary>
    /// Whether a proxy stage at or outside <paramref name="throughDepth"/> is going to retry a response with this
    /// status — then the response must not reach the client yet.
    /// </summary>
    public bool AnyStageWouldRetry(int status, int throughDepth)
    {
        for (var depth = 0; depth <= throughDepth && depth < Frames.Length; depth++)
        {
            var frame = Frames[depth];
            if (frame.Route is { } route && frame.Attempts <= route.Retry.Attempts && route.Retry.RetriesStatus(status))
            {
                return true;
            }
        }
        return false;
    }
}

/// <summary>What one proxy stage did with the request (one attempt of it, for the gateway).</summary>
public sealed class StageFrame(string stage, string listener)
{
    public string Stage { get; } = stage;
    public string Listener { get; set; } = listener;
    public RouteEntry? Route { get; set; }
    public ClusterChoice? Destination { get; set; }

    /// <summary>The endpoint of the current attempt, and those tried before (for the previous_hosts retry predicate).</summary>
    public HostRuntime? Host { get; set; }
    public List<HostRuntime> AttemptedHosts { get; } = [];

    /// <summary>The current attempt holds one of the cluster's max_retries slots.</summary>
    public bool RetryInFlight { get; set; }

    /// <summary>The path as this proxy received it (Istio's access log: <c>%REQ(X-ENVOY-ORIGINAL-PATH?:PATH)%</c>).</summary>
    public string Path { get; set; } = "/";

    /// <summary>The request as this stage received it, when its route changes path or headers (restored when it is done).</summary>
    public (PathString Path, HeaderDictionary Headers)? Restore { get; set; }

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

    /// <summary>
    /// Cancelled when this proxy's downstream goes away: the client for the sidecar, the sidecar's attempt for the
    /// gateway. Envoy's router resets its upstream requests then (<c>Filter::onDestroy</c> → <c>resetAll</c>) without
    /// an outlier-detection result; only its own timeouts count as <c>LocalOriginTimeout</c>.
    /// </summary>
    public CancellationToken Downstream { get; set; }

    public void Reset(string listener)
    {
        Listener = listener;
        Route = null;
        Destination = null;
        Host = null;
        AttemptedHosts.Clear();
        RetryInFlight = false;
        Details = null;
        Restore = null;
        Attempts = 0;
        Status = 0;
        Flags = ResponseFlags.None;
        UpstreamHost = null;
        Activity = null;
        Downstream = default;
    }
}
