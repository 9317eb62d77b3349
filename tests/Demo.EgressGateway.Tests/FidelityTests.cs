namespace Demo.EgressGateway.Tests;

/// <summary>
/// Statistical fidelity: one sample of 10 000 real requests through the gateway (real random source) per setting;
/// the joint outcome over v1 / v2 / injected fault must fit the configured weights and percentage by Pearson's
/// chi-square test at α = 0.0001 (Envoy picks the weighted cluster and rolls the fault independently per request).
/// The statistic is written to the test output.
/// </summary>
public sealed class FidelityTests(ITestOutputHelper output)
{
    private const int Requests = 10_000;

    // Upper 0.01% points of the chi-square distribution (α = 0.0001), by degrees of freedom: with a dozen statistical
    // cases per suite run, α = 0.001 failed CI about once in a hundred runs on a correct split; a wrong weight (a
    // 2-point shift over 10 000 requests) still gives a statistic in the hundreds.
    private static readonly Dictionary<int, double> Critical = new() { [1] = 15.137, [2] = 18.421 };

    [Theory]
    [InlineData(50, 50, 10.0)]
    [InlineData(90, 10, 0.0)]
    [InlineData(20, 80, 33.3)]
    [InlineData(60, 50, 5.0)]
    public async Task Observed_shares_fit_weights_and_fault_percentage_by_chi_square(int v1, int v2, double faultPercent)
    {
        await using var gateway = await GatewayHost.StartAsync(folder =>
        {
            folder.Write(MeshYaml.SidecarFile, MeshYaml.Sidecar(v1, v2, retries: MeshYaml.Retries(0, "5xx")));
            folder.Write(MeshYaml.EgressFile, MeshYaml.Egress(fault: faultPercent > 0 ? MeshYaml.Abort(418, faultPercent) : null));
        });
        var fault = faultPercent / 100;
        // Weights are relative to their sum (Envoy's weighted_clusters; Istio ≥ 1.20 accepts sums other than 100).
        var total = (double)(v1 + v2);
        var expected = new Dictionary<string, double>
        {
            ["v1"] = v1 / total * (1 - fault),
            ["v2"] = v2 / total * (1 - fault),
        };
        if (fault > 0)
        {
            expected["fault"] = fault;
        }

        var counts = await SampleAsync(gateway);

        Assert.True(counts["other"] == 0, $"{counts["other"]} unexpected answers");
        var chiSquare = expected.Sum(e => Math.Pow(counts[e.Key] - Requests * e.Value, 2) / (Requests * e.Value));
        var degrees = expected.Count - 1;
        var summary = $"v1/v2 = {v1}/{v2}, fault {faultPercent}%: observed {string.Join(", ", expected.Keys.Select(k => $"{k} {counts[k]}"))} "
            + $"(expected {string.Join(", ", expected.Select(e => $"{e.Key} {Requests * e.Value:0.#}"))}); χ² = {chiSquare:0.###}, df = {degrees}, "
            + $"critical value at α = 0.0001: {Critical[degrees]}";
        output.WriteLine(summary);
        Assert.True(chiSquare < Critical[degrees], summary);
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
