namespace Demo.EgressGateway.Tests;

/// <summary>
/// Statistical fidelity: over 10 000 real requests through the gateway (real random source), the shares of v1,
/// v2 and injected faults stay within 3σ of the binomial expectation for the configured weights and percentage.
/// </summary>
public sealed class FidelityTests
{
    private const int Requests = 10_000;

    [Theory]
    [InlineData(50, 50, 10.0)]
    [InlineData(90, 10, 0.0)]
    [InlineData(20, 80, 33.3)]
    public async Task Observed_shares_match_weights_and_fault_percentage_within_3_sigma(int v1, int v2, double faultPercent)
    {
        await using var gateway = await GatewayHost.StartAsync(folder =>
        {
            folder.Write(MeshYaml.SidecarFile, MeshYaml.Sidecar(v1, v2, retries: MeshYaml.Retries(0, "5xx")));
            folder.Write(MeshYaml.EgressFile, MeshYaml.Egress(fault: faultPercent > 0 ? MeshYaml.Abort(418, faultPercent) : null));
        });
        var fault = faultPercent / 100;
        var expected = new Dictionary<string, double>
        {
            ["v1"] = v1 / 100.0 * (1 - fault),
            ["v2"] = v2 / 100.0 * (1 - fault),
            ["fault"] = fault,
        };

        // 3σ on three shares holds with ~99.2% probability per sample; a second, fresh sample is drawn only when
        // the first misses, which keeps the false-alarm rate of this check below 0.01% without widening the bound.
        string? failure = null;
        for (var sample = 0; sample < 2; sample++)
        {
            var counts = await SampleAsync(gateway);
            failure = Check(counts, expected);
            if (failure is null)
            {
                break;
            }
        }
        Assert.True(failure is null, failure);
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

    private static string? Check(Dictionary<string, int> counts, Dictionary<string, double> expected)
    {
        if (counts["other"] > 0)
        {
            return $"{counts["other"]} unexpected answers";
        }
        foreach (var (outcome, p) in expected)
        {
            var mean = Requests * p;
            var sigma = Math.Sqrt(Requests * p * (1 - p));
            if (Math.Abs(counts[outcome] - mean) > 3 * sigma)
            {
                return $"{outcome}: observed {counts[outcome]} of {Requests}, expected {mean:0.#} ± {3 * sigma:0.#} (3σ)";
            }
        }
        return null;
    }
}
