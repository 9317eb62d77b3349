using System.Text.RegularExpressions;
using Demo.EgressGateway.Tests;
using static Demo.Conformance.Tests.MeshYaml;

namespace Demo.Conformance.Tests;

/// <summary>
/// A destination's <c>weight</c> beyond 100. Istio 1.22–1.30 refuses only a negative weight
/// (pkg/config/validation/validation.go <c>validateWeight</c>: "weight %d &lt; 0") and an all-zero total; the CRD
/// schema types it <c>int32</c> with no maximum. istiod writes the weights into Envoy's <c>weighted_clusters</c>
/// without a <c>total_weight</c> (pilot/pkg/networking/core/route/route.go applyHTTPRouteDestination), so Envoy picks
/// each cluster with probability weight / sum of weights.
/// </summary>
public sealed partial class WeightCaseTests(ITestOutputHelper output)
{
    private static string VirtualService(int b, int c) => $"""
        apiVersion: networking.istio.io/v1
        kind: VirtualService
        metadata:
          name: default
        spec:
          hosts:
            - {B}
          http:
            - route:
                - destination:
                    host: {B}
                  weight: {b}
                - destination:
                    host: {C}
                  weight: {c}
        """;

    [GeneratedRegex(@"/istio\.yaml:\d+: error: VirtualService 'default': spec\.http\[0\]\.route\[0\]\.weight: weight -1 < 0$")]
    private static partial Regex NegativeWeightRefusal();

    // 150/50: b gets 150/200 = 75 %, c 25 %. One sample of 1000, chi-square at ChiSquare.Alpha (α = 0.000001, critical
    // value 23.928 for 1 df), the statistic in the test output.
    [Fact]
    public async Task WeightsAbove100SplitByTheirRatio()
    {
        await using var mesh = await ConformanceMesh.StartAsync(Base(VirtualService(150, 50)), [new External(B), new External(C)]);

        const int calls = 1000;
        var counts = new Dictionary<string, int> { ["b"] = 0, ["c"] = 0 };
        for (var i = 0; i < calls; i++)
        {
            var reply = await mesh.GetAsync($"http://{B}");
            Assert.Equal(200, reply.Status);
            Assert.Contains(reply.Received.Hostname, counts.Keys);
            counts[reply.Received.Hostname]++;
        }

        ChiSquare.AssertFits(output, $"split b/c of {calls} calls, weights 150/50", ("b", counts["b"], 150), ("c", counts["c"], 50));
    }

    [Fact]
    public async Task NegativeWeightIsRefusedAtLoad()
    {
        var message = await ConformanceMesh.RefusalAsync(Base(VirtualService(-1, 50)));

        // The whole refusal: file and line, resource, field, and validation.go validateWeight's message (the CRD's
        // int32 takes -1; Istio's webhook refuses a negative weight); nothing else is refused.
        var lines = message.Split(Environment.NewLine);
        Assert.Equal(2, lines.Length);
        Assert.Equal("The Istio configuration cannot be honoured:", lines[0]);
        Assert.Matches(NegativeWeightRefusal(), lines[1]);
    }
}
