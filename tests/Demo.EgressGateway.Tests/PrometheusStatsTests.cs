namespace Demo.EgressGateway.Tests;

/// <summary>
/// Istio's <c>/stats/prometheus</c> on the admin port. The gateway's meter is read by OpenTelemetry, which listens
/// to every meter of that name in the process: one gateway per process in a run, but this assembly starts many, so
/// these tests run alone (a collection without parallelization) to see only their own gateway's series.
/// </summary>
[Collection(nameof(PrometheusStatsTests))]
public sealed class PrometheusStatsTests
{
    [Fact]
    public async Task Stats_prometheus_serves_istio_metrics_with_istios_label_names()
    {
        var (gateway, _, adminPort) = await GatewayHost.StartOnOwnPortsAsync(folder =>
        {
            folder.Write(MeshYaml.SidecarFile, MeshYaml.Sidecar(100, 0, retries: MeshYaml.Retries(0, "5xx")));
            folder.Write(MeshYaml.EgressFile, MeshYaml.Egress(fault: MeshYaml.Abort(418, 100)));
        });
        await using var _ = gateway;
        using var admin = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{adminPort}/") };
        for (var i = 0; i < 5; i++)
        {
            await gateway.GetAsync();
        }

        var response = await admin.GetAsync("stats/prometheus");
        var text = await response.Content.ReadAsStringAsync();

        Assert.StartsWith("text/plain", response.Content.Headers.ContentType?.MediaType, StringComparison.Ordinal);
        Assert.Contains("# TYPE istio_requests_total counter", text, StringComparison.Ordinal);
        Assert.Contains("# TYPE istio_request_duration_milliseconds histogram", text, StringComparison.Ordinal);
        var gatewayLine = Assert.Single(text.Split('\n'), l => l.StartsWith("istio_requests_total{", StringComparison.Ordinal)
            && l.Contains("source_workload=\"istio-egressgateway\"", StringComparison.Ordinal));
        foreach (var label in new[]
        {
            "reporter=\"source\"", "source_workload_namespace=\"istio-system\"", "destination_service=\"hello-istio-v1.apps.example.com\"",
            "destination_version=\"unknown\"", "response_code=\"418\"", "response_flags=\"FI\"", "request_protocol=\"http\"",
        })
        {
            Assert.Contains(label, gatewayLine, StringComparison.Ordinal);
        }
        Assert.EndsWith("} 5", gatewayLine, StringComparison.Ordinal);
        var sidecarLine = Assert.Single(text.Split('\n'), l => l.StartsWith("istio_requests_total{", StringComparison.Ordinal)
            && l.Contains("source_workload=\"proxy\"", StringComparison.Ordinal));
        Assert.Contains("destination_service=\"istio-egressgateway.istio-system.svc.cluster.local\"", sidecarLine, StringComparison.Ordinal);
        Assert.Contains("destination_workload=\"istio-egressgateway\"", sidecarLine, StringComparison.Ordinal);
        Assert.Contains(text.Split('\n'), l => l.StartsWith("istio_request_duration_milliseconds_bucket{", StringComparison.Ordinal)
            && l.Contains("source_workload=\"istio-egressgateway\"", StringComparison.Ordinal) && l.EndsWith("le=\"+Inf\"} 5", StringComparison.Ordinal));
    }
}

/// <summary>Runs <see cref="PrometheusStatsTests"/> after the parallel tests, with no other gateway alive.</summary>
[CollectionDefinition(nameof(PrometheusStatsTests), DisableParallelization = true)]
public sealed class PrometheusStatsCollection;
