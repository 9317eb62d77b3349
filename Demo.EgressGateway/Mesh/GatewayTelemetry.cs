using System.Diagnostics;
using System.Diagnostics.Metrics;
using Microsoft.Extensions.Options;

namespace Demo.EgressGateway.Mesh;

/// <summary>
/// Istio-shaped telemetry: <c>istio_requests_total</c> and <c>istio_request_duration_milliseconds</c> by proxy
/// stage, destination version, response code and flags; a span per stage; an Envoy-style access-log line.
/// </summary>
public sealed class GatewayTelemetry
{
    public const string MeterName = "Demo.EgressGateway";
    public static readonly ActivitySource ActivitySource = new("Demo.EgressGateway");

    private readonly Counter<long> _requests;
    private readonly Histogram<double> _duration;
    private readonly bool _accessLog;

    public GatewayTelemetry(IMeterFactory meterFactory, IOptions<EgressGatewayOptions> options)
    {
        var meter = meterFactory.Create(MeterName);
        _requests = meter.CreateCounter<long>("istio_requests_total", "{request}",
            "Requests handled by the local egress gateway, per proxy stage (sidecar or gateway).");
        _duration = meter.CreateHistogram<double>("istio_request_duration_milliseconds", "ms",
            "Time from the request's arrival at a proxy stage to its response.");
        _accessLog = options.Value.AccessLog;
    }

    public Activity? StartStage(string stage, MeshRequest request)
    {
        var activity = ActivitySource.StartActivity(stage == "sidecar" ? "egress sidecar" : "egress gateway", ActivityKind.Internal);
        if (activity is { IsAllDataRequested: true })
        {
            activity.SetTag("istio.stage", stage);
            activity.SetTag("istio.authority", request.Authority);
        }
        return activity;
    }

    public void StageCompleted(StageFrame frame, MeshRequest request, ILogger logger)
    {
        var elapsed = TimeProvider.System.GetElapsedTime(frame.StartTimestamp);
        var flags = frame.Flags.ToEnvoyString();
        var route = frame.Route?.Name ?? "-";
        var version = frame.Destination?.Cluster?.Subset ?? "-";
        // Istio's stats name the BlackHoleCluster as the destination of block_all and blocked connections.
        var service = frame.UpstreamHost == Envoy.IstioTranslator.BlackHoleCluster ? Envoy.IstioTranslator.BlackHoleCluster
            : frame.Destination?.Cluster?.Host ?? request.Authority;
        var tags = new TagList
        {
            { "reporter", frame.Stage },
            { "destination_service", service },
            { "destination_version", version },
            { "response_code", frame.Status },
            { "response_flags", flags },
            { "route", route },
        };
        _requests.Add(1, tags);
        _duration.Record(elapsed.TotalMilliseconds, tags);

        if (frame.Activity is { IsAllDataRequested: true } activity)
        {
            activity.SetTag("istio.route", route);
            activity.SetTag("istio.destination.version", version);
            activity.SetTag("istio.destination.cluster", frame.UpstreamHost);
            activity.SetTag("istio.attempts", frame.Attempts);
            activity.SetTag("istio.response_flags", flags);
            activity.SetTag("istio.fault", frame.Flags.HasFlag(ResponseFlags.FaultInjected) ? "abort"
                : frame.Flags.HasFlag(ResponseFlags.DelayInjected) ? "delay" : "none");
            activity.SetTag("http.response.status_code", frame.Status);
            if (frame.Status >= 500 || frame.Status == 0)
            {
                activity.SetStatus(ActivityStatusCode.Error);
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
}
