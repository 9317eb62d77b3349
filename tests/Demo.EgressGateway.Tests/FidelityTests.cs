namespace Demo.EgressGateway.Tests;

/// <summary>
/// Statistical fidelity: one sample of 10 000 real requests through the gateway, the local CF router and real CF app
/// instances (real random source) per setting;
/// the joint outcome over v1 / v2 / injected fault must fit the configured weights and percentage by Pearson's
/// chi-square test at <see cref="ChiSquare.Alpha"/> (Envoy picks the weighted cluster and rolls the fault independently
/// per request). The statistic is written to the test output.
/// </summary>
public sealed class FidelityTests(ITestOutputHelper output)
{
    private const int Requests = 10_000;

    [Theory]
    [InlineData(50, 50, 10.0)]
    [InlineData(90, 10, 0.0)]
    [InlineData(20, 80, 33.3)]
    [InlineData(60, 50, 5.0)]
    public async Task Observed_shares_fit_weights_and_fault_percentage_by_chi_square(int v1, int v2, double faultPercent)
    {
        // Through the local CF router and real CF app instances, as in the AppHost (issue 9).
        await using var platform = await CfPlatform.StartWithAppsAsync();
        await using var gateway = await GatewayHost.StartAsync(folder =>
        {
            folder.Write(MeshYaml.SidecarFile, MeshYaml.Sidecar(v1, v2, retries: MeshYaml.Retries(0, "5xx")));
            folder.Write(MeshYaml.EgressFile, MeshYaml.Egress(fault: faultPercent > 0 ? MeshYaml.Abort(418, faultPercent) : null));
        }, settings: platform.GatewayUpstreams);
        var fault = faultPercent / 100;
        // Weights are relative to their sum (Envoy's weighted_clusters; Istio ≥ 1.20 accepts sums other than 100).
        var total = (double)(v1 + v2);
        var expected = new List<(string Outcome, double Share)>
        {
            ("v1", v1 / total * (1 - fault)),
            ("v2", v2 / total * (1 - fault)),
        };
        if (fault > 0)
        {
            expected.Add(("fault", fault));
        }

        var counts = await SampleAsync(gateway);

        Assert.True(counts["other"] == 0, $"{counts["other"]} unexpected answers");
        Assert.Equal(0, gateway.Upstream.TotalHits);
        if (fault == 0)
        {
            Assert.Equal(0, counts["fault"]);
        }
        ChiSquare.AssertFits(output, $"v1/v2 = {v1}/{v2}, fault {faultPercent}%",
            [.. expected.Select(e => (e.Outcome, Observed: counts[e.Outcome], Weight: e.Share))]);
    }

    private static async Task<Dictionary<string, int>> SampleAsync(GatewayHost gateway)
    {
        var counts = new Dictionary<string, int> { ["v1"] = 0, ["v2"] = 0, ["fault"] = 0, ["other"] = 0 };
        var gate = new Lock();
        await Parallel.ForEachAsync(Enumerable.Range(0, Requests), new ParallelOptions { MaxDegreeOfParallelism = 8 }, async (_, _) =>
        {
            var (status, body) = await gateway.GetAsync();
            var outcome = (status, body) switch
            {
                (200, "Hello K8s, from CF v1 service!") => "v1",
                (200, "Hello K8s, from CF v2 service!") => "v2",
                (418, "fault filter abort") => "fault",
                _ => "other",
            };
            lock (gate)
            {
                counts[outcome]++;
            }
        });
        return counts;
    }
}
