using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Globalization;
using Microsoft.Extensions.Options;

namespace Demo.EgressGateway.Mesh;

/// <summary>
/// Istio-shaped telemetry per proxy stage (the caller's sidecar, then the egress gateway):
/// <list type="bullet">
/// <item><c>istio_requests_total</c> and <c>istio_request_duration_milliseconds</c> with Istio's standard labels
/// (<see cref="IstioLabels"/>), recorded once on the meter <see cref="MeterName"/> and read from it by the OTLP exporter
/// and by the admin port's <c>/stats/prometheus</c> (OpenTelemetry's Prometheus exporter);</item>
/// <item>a span per stage named as Envoy names it for Istio — the route's decorator, <c>&lt;host&gt;:&lt;port&gt;/*</c>
/// (istio/istio <c>pilot/pkg/networking/core/route/route.go</c>, <c>GetRouteOperation</c>: the destination
/// cluster's host and port when the route has one destination, else the VirtualService's name and the listener port)
/// — with Envoy's and Istio's tags (<c>upstream_cluster</c>, <c>response_flags</c>, <c>http.status_code</c>,
/// <c>istio.canonical_service</c>, <c>istio.mesh_id</c>, …) beside this project's <c>istio.*</c> ones;</item>
/// <item>an Envoy-style access-log line.</item>
/// </list>
/// A stage's span has error status when that proxy made the answer itself: an injected abort (<c>FI</c>) or a local
/// error reply (<c>NR</c>, <c>UH</c>, <c>UO</c>, <c>UF</c>, <c>UT</c>, <c>URX</c>, <c>UR</c>), or any 5xx — so the
/// dashboard marks the hop that failed, as Kiali colours an edge. Envoy's own <c>error=true</c> tag is set as Envoy
/// sets it (<c>source/common/tracing/tracer_impl.cc</c>: no response code or a 5xx), so a 418 abort has error status
/// here but no <c>error</c> tag, as in Envoy.
/// </summary>
public sealed class GatewayTelemetry
{
    public const string MeterName = "Demo.EgressGateway";
    public const string MeshId = "cluster.local";
    public static readonly ActivitySource ActivitySource = new("Demo.EgressGateway");

    private const ResponseFlags LocalErrorFlags = ResponseFlags.FaultInjected | ResponseFlags.NoRouteFound
        | ResponseFlags.NoHealthyUpstream | ResponseFlags.UpstreamOverflow | ResponseFlags.UpstreamConnectionFailure
        | ResponseFlags.UpstreamRequestTimeout | ResponseFlags.UpstreamRetryLimitExceeded | ResponseFlags.UpstreamRemoteReset
        | ResponseFlags.UpstreamConnectionTermination | ResponseFlags.NoClusterFound;

    private readonly Counter<long> _requests;
    private readonly Histogram<double> _duration;
    private readonly bool _accessLog;
    private readonly ClusterStats _clusters;
    private readonly (string Workload, string Namespace) _sidecar;
    private readonly (string Workload, string Namespace) _gateway;

    public GatewayTelemetry(IMeterFactory meterFactory, IOptions<EgressGatewayOptions> options, ClusterStats clusters)
    {
        var meter = meterFactory.Create(MeterName);
        _requests = meter.CreateCounter<long>("istio_requests_total", "{request}",
            "Requests handled by the local egress gateway, per proxy stage (source_workload: the caller's sidecar or the egress gateway).");
        _duration = meter.CreateHistogram<double>("istio_request_duration_milliseconds", "ms",
            "Time from the request's arrival at a proxy stage to its response.", advice: new InstrumentAdvice<double>
            {
                HistogramBucketBoundaries = IstioLabels.DurationBuckets,
            });
        _accessLog = options.Value.AccessLog;
        _clusters = clusters;
        _sidecar = (options.Value.SourceWorkload, options.Value.WorkloadNamespace);
        _gateway = WorkloadOf(options.Value.EgressGatewayService);
    }

    /// <summary><c>istio-egressgateway.istio-system.svc.cluster.local</c> → (<c>istio-egressgateway</c>, <c>istio-system</c>).</summary>
    private static (string Workload, string Namespace) WorkloadOf(string service)
    {
        var labels = service.Split('.');
        return (labels[0], labels.Length > 1 ? labels[1] : IstioLabels.Unknown);
    }

    public Activity? StartStage(string stage, ActiveStream request)
    {
        // The gateway's span is the child of the span the sidecar sent in traceparent (its server's own request
        // activity, if any, is not part of Istio's trace).
        var activity = stage == ActiveStream.Sidecar
            ? ActivitySource.StartActivity("egress sidecar", ActivityKind.Internal)
            : ActivityContext.TryParse(request.Context.Request.Headers.TraceParent, request.Context.Request.Headers.TraceState, isRemote: true, out var parent)
                ? ActivitySource.StartActivity("egress gateway", ActivityKind.Internal, parent)
                : ActivitySource.StartActivity("egress gateway", ActivityKind.Internal, parentContext: default);
        if (activity is { IsAllDataRequested: true })
        {
            var (workload, ns) = stage == "sidecar" ? _sidecar : _gateway;
            activity.SetTag("istio.stage", stage);
            activity.SetTag("istio.authority", request.Authority);
            activity.SetTag("component", "proxy");
            activity.SetTag("istio.canonical_service", workload);
            activity.SetTag("istio.canonical_revision", "latest");
            activity.SetTag("istio.namespace", ns);
            activity.SetTag("istio.mesh_id", MeshId);
        }
        return activity;
    }

    /// <summary>
    /// The child span Envoy's router starts for one upstream request when the connection manager has
    /// <c>tracing.spawn_upstream_span</c> (the gateway from Istio 1.28): <c>router &lt;cluster&gt; egress</c>, with
    /// <c>retry.count</c> on a retry (Envoy's upstream_request.cc).
    /// </summary>
    /// <param name="attempt">1 for the first try.</param>
    public static Activity? StartUpstreamSpan(string cluster, int attempt)
    {
        var span = ActivitySource.StartActivity($"router {cluster} egress", ActivityKind.Client);
        if (span is { IsAllDataRequested: true } && attempt != 1)
        {
            span.SetTag("retry.count", (attempt - 1).ToString(CultureInfo.InvariantCulture));
        }
        return span;
    }

    /// <summary>
    /// Ends an upstream span with the tags Envoy's <c>HttpTracerUtility::finalizeUpstreamSpan</c> and
    /// <c>setCommonTags</c> give it (<c>upstream_address</c>, <c>upstream_cluster</c>, <c>http.status_code</c>,
    /// <c>response_flags</c>, <c>error</c>).
    /// </summary>
    /// <param name="status">The upstream's status, 0 without a response.</param>
    public static void UpstreamSpanCompleted(Activity? span, string cluster, string? upstreamAddress, int status, ResponseFlags flags)
    {
        if (span is { IsAllDataRequested: true })
        {
            span.SetTag("component", "proxy");
            span.SetTag("http.protocol", "HTTP/1.1");
            if (upstreamAddress is not null)
            {
                span.SetTag("upstream_address", upstreamAddress);
                span.SetTag("peer.address", upstreamAddress);
            }
            span.SetTag("upstream_cluster", cluster);
            span.SetTag("upstream_cluster.name", cluster);
            span.SetTag("http.status_code", status.ToString(CultureInfo.InvariantCulture));
            span.SetTag("response_flags", flags.ToEnvoyString());
            if (status is 0 or >= 500 and < 600)
            {
                span.SetTag("error", "true");
            }
        }
        span?.Dispose();
    }

    public void StageCompleted(StreamInfo frame, ActiveStream request, ILogger logger)
    {
        var elapsed = TimeProvider.System.GetElapsedTime(frame.StartTimestamp);
        var flags = frame.Flags.ToEnvoyString();
        var route = frame.Route?.Name ?? "-";
        var cluster = frame.Destination?.Cluster;
        var isSidecar = request.IsSidecar;
        // The destination's version is its cluster's subset: the gateway routes to the CF host itself (no subset), so
        // its version is unknown, as Istio's stats report a ServiceEntry host without a version label.
        var version = cluster?.Subset ?? IstioLabels.Unknown;
        // Istio's stats name the BlackHoleCluster as the destination of block_all and blocked connections.
        var service = frame.UpstreamHost == Envoy.IstioTranslator.BlackHoleCluster ? Envoy.IstioTranslator.BlackHoleCluster
            : cluster?.Host ?? request.Authority;
        var (source, sourceNamespace) = isSidecar ? _sidecar : _gateway;
        var (destination, destinationNamespace) = cluster is { IsEgressGateway: true } ? _gateway : (IstioLabels.Unknown, IstioLabels.Unknown);
        var labels = new IstioLabels(source, sourceNamespace, destination, destinationNamespace, service, version,
            frame.Status, flags, route);

        if (_requests.Enabled || _duration.Enabled)
        {
            var tags = new TagList();
            foreach (var tag in labels.Tags())
            {
                tags.Add(tag);
            }
            _requests.Add(1, tags);
            _duration.Record(elapsed.TotalMilliseconds, tags);
        }
        if (cluster is not null)
        {
            _clusters.Completed(cluster, frame.Attempts, frame.Status, frame.Flags);
        }

        if (frame.Activity is { IsAllDataRequested: true } activity)
        {
            var listenPort = isSidecar ? request.Context.Request.Host.Port ?? 80 : request.ListenerPort;
            // The route's decorator, as istiod writes it (route.go GetRouteOperation): host:port/path for one cluster,
            // else the VirtualService's name.
            activity.DisplayName = frame.Route?.Config.Decorator is { Operation: { Length: > 0 } decorator }
                ? decorator
                : $"{Envoy.HeaderUtility.StripPortFromHost(request.Authority)}:{listenPort.ToString(CultureInfo.InvariantCulture)}/*";
            activity.SetTag("istio.route", route);
            activity.SetTag("istio.destination.version", version);
            activity.SetTag("istio.destination.cluster", frame.UpstreamHost);
            activity.SetTag("istio.attempts", frame.Attempts);
            activity.SetTag("istio.response_flags", flags);
            activity.SetTag("istio.fault", frame.Flags.HasFlag(ResponseFlags.FaultInjected) ? "abort"
                : frame.Flags.HasFlag(ResponseFlags.DelayInjected) ? "delay" : "none");
            activity.SetTag("http.response.status_code", frame.Status);
            // Envoy's own tag names (source/common/tracing/tracer_impl.cc, setCommonTags).
            activity.SetTag("upstream_cluster", cluster?.Name ?? "-");
            activity.SetTag("upstream_cluster.name", cluster?.Name ?? "-");
            activity.SetTag("http.status_code", frame.Status.ToString(CultureInfo.InvariantCulture));
            activity.SetTag("response_flags", flags);
            activity.SetTag("destination_version", version);
            if (frame.Status is 0 or >= 500 and < 600)
            {
                activity.SetTag("error", "true");
            }
            if (frame.Host?.Transport is { Tls: true } transport)
            {
                // TLS is originated by this proxy: the hop to the CF app is https, whatever the request said.
                activity.SetTag("url.scheme", "https");
                activity.SetTag("tls.server_name", transport.Sni ?? transport.Host);
            }
            if (IsOwnError(frame))
            {
                activity.SetStatus(ActivityStatusCode.Error, Describe(frame, flags));
            }
        }
        frame.Activity?.Dispose();

        if (_accessLog)
        {
            var http = request.Context.Request;
            Log.AccessLog(logger, frame.Stage, http.Method, frame.Path, http.Protocol, frame.Status, flags,
                frame.Attempts, route, frame.UpstreamHost ?? "-", frame.Authority.Length > 0 ? frame.Authority : request.Authority,
                frame.Details ?? "-", elapsed.TotalMilliseconds);
        }
    }


    private static bool IsOwnError(StreamInfo frame) =>
        (frame.Flags & LocalErrorFlags) != 0 || frame.Status >= 500 || frame.Status == 0;

    private static string Describe(StreamInfo frame, string flags) => frame.Flags.HasFlag(ResponseFlags.FaultInjected)
        ? $"fault filter abort: {frame.Status} ({flags})"
        : $"{frame.Status} {flags}";
}
