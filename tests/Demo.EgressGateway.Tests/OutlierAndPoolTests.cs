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
        var clock = Stopwatch.StartNew();
        var v2Arrivals = new System.Collections.Concurrent.ConcurrentQueue<TimeSpan>();
        gateway.Upstream.Behaviour = async context =>
        {
            if (context.Request.Host.Host != GatewayHost.V2Host)
            {
                return false;
            }
            v2Arrivals.Enqueue(clock.Elapsed);
            context.Response.StatusCode = 503;
            await context.Response.WriteAsync("v2 is down");
            return true;
        };

        // Requests go one at a time until v2 is ejected: its second consecutive gateway error ejects it (Envoy's
        // outlier detector ejects on that response), so the ejection falls between that request's send and its answer.
        var answers = new List<(int Status, string Body)>();
        var ejectedNoEarlierThan = TimeSpan.Zero;
        var ejectedNoLaterThan = TimeSpan.Zero;
        // Up to 100 requests, all inside the ejection: a starved machine that takes longer stops the sample 8 s after it.
        while (answers.Count < 100 && (ejectedNoLaterThan == TimeSpan.Zero || clock.Elapsed < ejectedNoEarlierThan + TimeSpan.FromSeconds(8)))
        {
            var sent = clock.Elapsed;
            var answer = await gateway.GetAsync();
            answers.Add(answer);
            if (answer is (503, "v2 is down") && answers.Count(a => a is (503, "v2 is down")) == 2)
            {
                (ejectedNoEarlierThan, ejectedNoLaterThan) = (sent, clock.Elapsed);
            }
        }

        // Envoy's local reply when the cluster has no host to pick: "no healthy upstream" (envoy source/common/router/router.cc, Filter::sendNoHealthyUpstreamResponse).
        var v1 = answers.Count(a => a is (200, "Hello K8s, from CF v1 service!"));
        var upstreamFailures = answers.Count(a => a is (503, "v2 is down"));
        var ejected = answers.Count(a => a is (503, "no healthy upstream"));
        Assert.Equal(answers.Count, v1 + upstreamFailures + ejected);
        Assert.True(answers.Count >= 20, $"only {answers.Count} requests in 8 s");
        Assert.Equal(2, upstreamFailures);
        // The weighted pick is made before the host, so an ejected v2 never fails over to v1: one sample, v1 against
        // every request that picked v2 (reached it or found it ejected), fits 50/50 by chi-square at ChiSquare.Alpha.
        ChiSquare.AssertFits(output, "v1 vs v2 picks (2 reached v2, the rest found it ejected), weights 50/50",
            ("v1", v1, 50), ("v2", upstreamFailures + ejected, 50));
        Assert.Equal(2, gateway.Upstream.Hits(GatewayHost.V2Host));
        Assert.Contains(gateway.Logs.Messages(), m => m.StartsWith("[gateway]", StringComparison.Ordinal) && m.Contains(" 503 UH ", StringComparison.Ordinal));

        // Envoy un-ejects on the first interval sweep once baseEjectionTime × ejections has passed since the ejection
        // (outlier_detection_impl.cc, DetectorImpl::checkHostForUneject): here 10 s, swept every 1 s. Just before that
        // the host is still ejected; then it is tried again. Both sides are timed from the ejection, on this clock: a v2
        // arrival at the upstream comes after the gateway's pick, which comes after the un-ejection.
        var beforeBase = ejectedNoEarlierThan + TimeSpan.FromSeconds(9);
        var stillEjectedUntil = ejectedNoEarlierThan + TimeSpan.FromSeconds(9.5);
        if (beforeBase > clock.Elapsed)
        {
            await Task.Delay(beforeBase - clock.Elapsed);
        }
        var stillEjected = new List<(int Status, string Body)>();
        while (clock.Elapsed < stillEjectedUntil)
        {
            stillEjected.Add(await gateway.GetAsync());
        }
        Assert.True(stillEjected.Count(a => a is (503, "no healthy upstream")) > 0 && gateway.Upstream.Hits(GatewayHost.V2Host) == 2,
            $"v2 must still be ejected 9–9.5 s after its ejection: answers {string.Join(", ", stillEjected.Select(a => a.Status))}, v2 hits {gateway.Upstream.Hits(GatewayHost.V2Host)}");

        // The wait for the sweep is bounded by time, not by a number of requests: on a loaded machine many requests fit
        // in the second before the sweep. 10 s after the answer plus one interval is Envoy's latest; 5 s more absorb a
        // late timer on a starved machine (the assertion below is on the lower bound, which load cannot break).
        var giveUpAt = ejectedNoLaterThan + TimeSpan.FromSeconds(11 + 5);
        while (gateway.Upstream.Hits(GatewayHost.V2Host) == 2 && clock.Elapsed < giveUpAt)
        {
            await gateway.GetAsync();
        }
        Assert.Equal(3, gateway.Upstream.Hits(GatewayHost.V2Host));
        var triedAgainAt = v2Arrivals.ToArray()[2];
        Assert.True(triedAgainAt >= ejectedNoEarlierThan + TimeSpan.FromSeconds(10),
            $"v2 was tried again {(triedAgainAt - ejectedNoEarlierThan).TotalSeconds:0.000} s after its ejection, before baseEjectionTime (10 s)");
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
