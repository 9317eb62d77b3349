using System.Diagnostics;
namespace Demo.EgressGateway.Tests;

/// <summary>DestinationRule traffic policy: outlier detection per cluster (no failover between weighted versions) and circuit breaking.</summary>
public sealed class OutlierAndPoolTests(ITestOutputHelper output)
{
    // Top-level policy only: a portLevelSettings entry would replace it for port 443 (port-level settings do not inherit).
    private static string TlsRule(string version, string trafficPolicyExtra) => $"""
        apiVersion: networking.istio.io/v1
        kind: DestinationRule
        metadata:
          name: hello-istio-{version}
        spec:
          host: hello-istio-{version}.apps.example.com
          trafficPolicy:
        {trafficPolicyExtra}
            tls:
              mode: SIMPLE
              sni: hello-istio-{version}.apps.example.com
              subjectAltNames:
                - hello-istio-{version}.apps.example.com
        """;

    [Fact]
    public async Task An_ejected_version_fails_fast_with_503_UH_and_its_requests_never_fail_over_to_the_other_version()
    {
        await using var gateway = await GatewayHost.StartAsync(folder =>
        {
            folder.Write(MeshYaml.SidecarFile, MeshYaml.Sidecar(50, 50, retries: MeshYaml.Retries(0, "5xx")));
            folder.Write(MeshYaml.EgressFile, MeshYaml.Egress());
            folder.Write("destination-rule-hello-istio-v2.yaml", TlsRule("v2", """
                    outlierDetection:
                      consecutiveGatewayErrors: 2
                      consecutive5xxErrors: 0
                      interval: 1s
                      baseEjectionTime: 10s
                      maxEjectionPercent: 100
                """));
        });
        gateway.Upstream.Behaviour = async context =>
        {
            if (context.Request.Host.Host != GatewayHost.V2Host)
            {
                return false;
            }
            context.Response.StatusCode = 503;
            await context.Response.WriteAsync("v2 is down");
            return true;
        };

        // The 100 requests must all fall inside v2's ejection (10 s, far more than they take even on a loaded machine).
        var sinceFirst = Stopwatch.StartNew();
        var answers = new List<(int Status, string Body)>();
        for (var i = 0; i < 100; i++)
        {
            answers.Add(await gateway.GetAsync());
        }

        // Envoy's local reply when the cluster has no host to pick: "no healthy upstream" (envoy source/common/router/router.cc, Filter::sendNoHealthyUpstreamResponse).
        var v1 = answers.Count(a => a is (200, "Hello K8s, from CF v1 service!"));
        var upstreamFailures = answers.Count(a => a is (503, "v2 is down"));
        var ejected = answers.Count(a => a is (503, "no healthy upstream"));
        Assert.Equal(100, v1 + upstreamFailures + ejected);
        Assert.Equal(2, upstreamFailures);
        // The weighted pick is made before the host, so an ejected v2 never fails over to v1: one sample, v1 against
        // every request that picked v2 (reached it or found it ejected), fits 50/50 by chi-square at ChiSquare.Alpha.
        ChiSquare.AssertFits(output, "v1 vs v2 picks (2 reached v2, the rest found it ejected), weights 50/50",
            ("v1", v1, 50), ("v2", upstreamFailures + ejected, 50));
        Assert.Equal(2, gateway.Upstream.Hits(GatewayHost.V2Host));
        Assert.Contains(gateway.Logs.Messages(), m => m.StartsWith("[gateway]", StringComparison.Ordinal) && m.Contains(" 503 UH ", StringComparison.Ordinal));

        // Envoy un-ejects on the interval sweep after baseEjectionTime (here within 10–11 s of the ejection, which came
        // after the first request): then the host is tried again (and, still failing, ejected again).
        var unejected = TimeSpan.FromSeconds(11.1) - sinceFirst.Elapsed;
        if (unejected > TimeSpan.Zero)
        {
            await Task.Delay(unejected);
        }
        for (var i = 0; i < 50 && gateway.Upstream.Hits(GatewayHost.V2Host) == 2; i++)
        {
            await gateway.GetAsync();
        }
        Assert.Equal(3, gateway.Upstream.Hits(GatewayHost.V2Host));
    }

    [Fact]
    public async Task Requests_beyond_the_connection_pool_overflow_with_503_UO()
    {
        await using var gateway = await GatewayHost.StartAsync(folder =>
        {
            folder.Write(MeshYaml.SidecarFile, MeshYaml.Sidecar(100, 0, retries: MeshYaml.Retries(0, "5xx")));
            folder.Write(MeshYaml.EgressFile, MeshYaml.Egress());
            folder.Write("destination-rule-hello-istio-v1.yaml", TlsRule("v1", """
                    connectionPool:
                      tcp:
                        maxConnections: 1
                      http:
                        http1MaxPendingRequests: 1
                """));
        });
        // A warm pool (Envoy: a ready client): one request takes the idle connection, one waits as pending, the rest
        // overflow. (While a connection is still being set up its request counts as pending too — see
        // IstioFidelityTests.The_connection_pool_overflows_beyond_max_connections_plus_max_pending_requests.)
        Assert.Equal(200, (await gateway.GetAsync()).Status);
        gateway.Upstream.Behaviour = async context =>
        {
            await Task.Delay(TimeSpan.FromMilliseconds(800));
            return false;
        };

        var answers = await Task.WhenAll(Enumerable.Range(0, 4).Select(_ => gateway.GetAsync()));

        Assert.Equal(2, answers.Count(a => a.Status == 200));
        Assert.Equal(2, answers.Count(a => a.Status == 503 && a.Body.EndsWith("reset reason: overflow", StringComparison.Ordinal)));
        Assert.Contains(gateway.Logs.Messages(), m => m.StartsWith("[gateway]", StringComparison.Ordinal) && m.Contains(" 503 UO ", StringComparison.Ordinal));
        Assert.Equal(3, gateway.Upstream.TotalHits);
    }
}
