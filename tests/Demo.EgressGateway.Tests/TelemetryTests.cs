using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using Demo.EgressGateway.Mesh;

namespace Demo.EgressGateway.Tests;

/// <summary>W3C trace context crosses the gateway; spans and istio_requests_total carry route, version, flags and attempts.</summary>
public sealed class TelemetryTests
{
    [Fact]
    public async Task Trace_context_flows_through_both_proxy_stages_to_the_upstream_with_one_span_per_stage()
    {
        var stopped = new ConcurrentQueue<Activity>();
        using var listener = new ActivityListener
        {
            ShouldListenTo = _ => true,
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = stopped.Enqueue,
        };
        ActivitySource.AddActivityListener(listener);
        await using var gateway = await GatewayHost.StartAsync(folder =>
        {
            folder.Write(MeshYaml.SidecarFile, MeshYaml.Sidecar(0, 100));
            folder.Write(MeshYaml.EgressFile, MeshYaml.Egress());
        });
        var traceId = ActivityTraceId.CreateRandom();
        var callerSpan = ActivitySpanId.CreateRandom();

        var (status, _) = await gateway.GetAsync(configure: r => r.Headers.Add("traceparent", $"00-{traceId}-{callerSpan}-01"));

        Assert.Equal(200, status);
        var (_, traceParent) = Assert.Single(gateway.Upstream.Requests);
        Assert.NotNull(traceParent);
        Assert.StartsWith($"00-{traceId}-", traceParent, StringComparison.Ordinal);
        Assert.DoesNotContain(callerSpan.ToString(), traceParent, StringComparison.Ordinal);

        var stages = stopped.Where(a => a.TraceId == traceId && a.Source.Name == GatewayTelemetry.ActivitySource.Name).ToList();
        var sidecar = Assert.Single(stages, a => (string?)a.GetTagItem("istio.stage") == "sidecar");
        var egress = Assert.Single(stages, a => (string?)a.GetTagItem("istio.stage") == "gateway");
        Assert.Equal("hello-split", sidecar.GetTagItem("istio.route"));
        Assert.Equal("v2", sidecar.GetTagItem("istio.destination.version"));
        Assert.Equal(1, sidecar.GetTagItem("istio.attempts"));
        Assert.Equal("hello-v2", egress.GetTagItem("istio.route"));
        Assert.Equal("none", egress.GetTagItem("istio.fault"));
        Assert.Equal(sidecar.SpanId, egress.ParentSpanId);
    }

    [Fact]
    public async Task Istio_requests_total_counts_by_stage_version_code_and_flags()
    {
        await using var gateway = await GatewayHost.StartAsync(folder =>
        {
            folder.Write(MeshYaml.SidecarFile, MeshYaml.Sidecar(100, 0, retries: MeshYaml.Retries(0, "5xx")));
            folder.Write(MeshYaml.EgressFile, MeshYaml.Egress(fault: MeshYaml.Abort(418, 100)));
        });
        var measurements = new ConcurrentQueue<Dictionary<string, object?>>();
        using var meterListener = new MeterListener
        {
            InstrumentPublished = (instrument, listener) =>
            {
                // Meters made by a host's IMeterFactory carry it as their scope: count this gateway's only.
                if (instrument is { Name: "istio_requests_total", Meter.Name: GatewayTelemetry.MeterName }
                    && instrument.Meter.Scope == gateway.Services.GetRequiredService<IMeterFactory>())
                {
                    listener.EnableMeasurementEvents(instrument);
                }
            },
        };
        meterListener.SetMeasurementEventCallback<long>((_, _, tags, _) =>
        {
            var copy = new Dictionary<string, object?>();
            foreach (var tag in tags)
            {
                copy[tag.Key] = tag.Value;
            }
            measurements.Enqueue(copy);
        });
        meterListener.Start();
        var before = measurements.Count;

        for (var i = 0; i < 5; i++)
        {
            await gateway.GetAsync();
        }

        var ours = measurements.Skip(before).Where(m => (string?)m["route"] is "hello-v1" or "hello-split").ToList();
        // Istio: client proxies and gateways both report as "source"; the stage is the source workload. The gateway's
        // destination is the CF host's own cluster (no subset, a DNS endpoint without labels): version "unknown", as
        // Istio's stats label an unknown peer; the sidecar's is the subset it picked.
        Assert.Equal(5, ours.Count(m => (string?)m["reporter"] == "source" && (string?)m["source_workload"] == "istio-egressgateway"
            && (string?)m["response_flags"] == "FI" && (int?)m["response_code"] == 418 && (string?)m["destination_version"] == "unknown"));
        Assert.Equal(5, ours.Count(m => (string?)m["reporter"] == "source" && (string?)m["source_workload"] == "proxy"
            && (string?)m["destination_version"] == "v1"
            && (int?)m["response_code"] == 418));
    }
}
