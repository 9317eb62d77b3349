namespace Demo.EgressGateway.Tests;

/// <summary>
/// Envoy picks a weighted cluster per request from that stream's random value (<c>source/common/router/config_impl.cc</c>,
/// the weighted-clusters pick over <c>random_value % total_weight</c>), so one request's version says nothing about the
/// next one's. Counts that fit the weights are not enough to show that: a weighted round-robin fits them too. These
/// tests add the order — sequential requests, read in the order the upstream received them.
/// </summary>
public sealed class PickIndependenceTests(ITestOutputHelper output)
{
    private const int Requests = 1_000;

    [Theory]
    [InlineData(50, 50)]
    [InlineData(80, 20)]
    public async Task Weighted_cluster_picks_are_independent_from_one_request_to_the_next(int v1, int v2)
    {
        await using var gateway = await GatewayHost.StartAsync(folder =>
        {
            folder.Write(MeshYaml.SidecarFile, MeshYaml.Sidecar(v1, v2, retries: MeshYaml.Retries(0, "5xx")));
            folder.Write(MeshYaml.EgressFile, MeshYaml.Egress());
        });

        for (var i = 0; i < Requests; i++)
        {
            Assert.Equal(200, (await gateway.GetAsync()).Status);
        }

        var sequence = gateway.Upstream.Requests.Select(r => r.Host switch
        {
            GatewayHost.V1Host => "v1",
            GatewayHost.V2Host => "v2",
            _ => r.Host,
        }).ToList();
        Assert.Equal(Requests, sequence.Count);
        ChiSquare.AssertFits(output, $"v1/v2 = {v1}/{v2}, sequential",
            ("v1", sequence.Count(s => s == "v1"), v1), ("v2", sequence.Count(s => s == "v2"), v2));
        ChiSquare.AssertIndependent(output, $"v1/v2 = {v1}/{v2}, one pick to the next", sequence);
    }

    [Fact]
    public void A_smooth_weighted_round_robin_fits_its_weights_but_fails_the_independence_test()
    {
        // nginx's smooth weighted round-robin at 80/20: v1 v1 v2 v1 v1, v1 v1 v2 v1 v1, … — exact counts, no randomness.
        var weights = new[] { ("v1", 80), ("v2", 20) };
        var current = new int[weights.Length];
        var sequence = new List<string>(Requests);
        for (var i = 0; i < Requests; i++)
        {
            for (var w = 0; w < weights.Length; w++)
            {
                current[w] += weights[w].Item2;
            }
            var best = Array.IndexOf(current, current.Max());
            current[best] -= weights.Sum(w => w.Item2);
            sequence.Add(weights[best].Item1);
        }

        ChiSquare.AssertFits(output, "smooth weighted round-robin 80/20",
            ("v1", sequence.Count(s => s == "v1"), 80), ("v2", sequence.Count(s => s == "v2"), 20));
        Assert.Throws<Xunit.Sdk.TrueException>(() => ChiSquare.AssertIndependent(output, "smooth weighted round-robin 80/20", sequence));
    }
}
