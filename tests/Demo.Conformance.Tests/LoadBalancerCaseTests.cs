using System.Text.Json;
using Demo.EgressGateway.Envoy;
using Demo.EgressGateway.Istio;
using Demo.EgressGateway.Tests;
using static Demo.Conformance.Tests.MeshYaml;

namespace Demo.Conformance.Tests;

/// <summary>
/// DestinationRule <c>loadBalancer.simple</c> over a ServiceEntry with several endpoints (each its own echo
/// instance): the Envoy <c>lb_policy</c> istiod writes (pilot/pkg/networking/core/cluster_traffic_policy.go
/// applyLoadBalancer), shown by /config_dump, and the pick Envoy makes with it among endpoints of equal weight
/// (envoy source/extensions/load_balancing_policies). Istio's consistentHashCases "no consistent" is one of them.
/// </summary>
public sealed class LoadBalancerCaseTests(ITestOutputHelper output)
{
    private const string Pool = "pool.external";
    private const string Url = "http://pool.external/";
    private const string Cluster = "outbound|80||pool.external";

    // A ServiceEntry resolving pool.external to several endpoints, as the Kubernetes Service of Istio's
    // consistentHashCases selects several pods.
    private static string PoolEntry(string resolution, params string[] endpoints) => $"""
        apiVersion: networking.istio.io/v1
        kind: ServiceEntry
        metadata:
          name: pool
        spec:
          hosts:
            - {Pool}
          location: MESH_EXTERNAL
          resolution: {resolution}
          ports:
            - number: 80
              name: http
              protocol: HTTP
          endpoints:
        {string.Join("\n", endpoints.Select(e => $"    - address: {e}"))}
        """;

    private static string Rule(string simple) => LoadBalancerRule($"simple: {simple}");

    // The DestinationRule for the pool with one loadBalancer setting (a line under loadBalancer:).
    private static string LoadBalancerRule(string setting) => $"""
        apiVersion: networking.istio.io/v1
        kind: DestinationRule
        metadata:
          name: pool-balancing
        spec:
          host: {Pool}
          trafficPolicy:
            loadBalancer:
              {setting}
        """;

    private static readonly string[] Endpoints = ["alpha.pool", "beta.pool", "gamma.pool"];

    private static Task<ConformanceMesh> StartAsync(string yaml, int endpoints) =>
        ConformanceMesh.StartAsync(Base(yaml), [.. Endpoints.Take(endpoints).Select(e => new External(e))]);

    private static async Task<List<string>> AnsweredByAsync(ConformanceMesh mesh, int requests)
    {
        var answered = new List<string>();
        for (var i = 0; i < requests; i++)
        {
            var reply = await mesh.GetAsync(Url);
            Assert.True(reply.Status == 200, reply.ToString());
            answered.Add(reply.Received.Hostname);
        }
        return answered;
    }

    // Istio consistentHashCases "source ip", "query param", "http header" (routing.go): with a consistentHash key, 10
    // calls carrying the same key (?some-query-param=bar, x-some-header: baz, one source address) all reach one endpoint.
    // istiod writes RING_HASH on the cluster (cluster_traffic_policy.go applyLoadBalancer) and the key as the route's
    // hash_policy (route.go ConsistentHashToHashPolicy); Envoy's ring hash load balancer picks by it.
    [Theory]
    [InlineData("useSourceIp: true", "connection_properties")]
    [InlineData("httpQueryParameterName: some-query-param", "query_parameter")]
    [InlineData("httpHeaderName: x-some-header", "header")]
    public async Task ConsistentHashSendsEveryCallWithTheSameKeyToOneEndpoint(string key, string hashPolicy)
    {
        var yaml = Join(PoolEntry("DNS", Endpoints), LoadBalancerRule($"consistentHash: {{ {key} }}"), $"""
            apiVersion: networking.istio.io/v1
            kind: VirtualService
            metadata:
              name: pool
            spec:
              hosts: [{Pool}]
              http:
                - route:
                    - destination:
                        host: {Pool}
            """);
        await using var mesh = await StartAsync(yaml, 3);

        var answered = new List<string>();
        for (var i = 0; i < 10; i++)
        {
            var reply = await mesh.GetAsync(Url + "?some-query-param=bar", ("x-some-header", "baz"));
            Assert.True(reply.Status == 200, reply.ToString());
            answered.Add(reply.Received.Hostname);
        }

        Assert.Single(answered.Distinct());
        Assert.Equal("RING_HASH", mesh.DumpedCluster("sidecar", Cluster).GetProperty("lb_policy").GetString());
        Assert.Contains($"\"{hashPolicy}\"", mesh.DumpedRouteConfig("sidecar", "80").GetRawText(), StringComparison.Ordinal);
        output.WriteLine($"{key}: every call reached {answered[0]}");
    }

    // Istio consistentHashCases "http cookie with ttl" (routing.go; skipped in Istio's own run, istio/istio#48156, because
    // its framework does not send the cookie back — this client does): httpCookie session-cookie, ttl 3600s. The first
    // call has no cookie, so the router makes one (router.cc addDownstreamSetCookie: the hex xxHash64 of the
    // connection's addresses) and sets it — `session-cookie="<value>"; Max-Age=3600; HttpOnly`
    // (Http::Utility::makeSetCookieValue); the calls that send it back all reach the endpoint the first one did.
    [Fact]
    public async Task ACookieWithTtlIsSetOnTheFirstAnswerAndKeepsEveryCallOnOneEndpoint()
    {
        await using var mesh = await StartAsync(Join(PoolEntry("DNS", Endpoints),
            LoadBalancerRule("consistentHash: { httpCookie: { name: session-cookie, ttl: 3600s } }")), 3);

        var first = await mesh.GetAsync(Url + "?some-query-param=bar", ("x-some-header", "baz"));
        var setCookie = first.Headers["set-cookie"];
        Assert.NotNull(setCookie);
        Assert.Matches("^session-cookie=\"[0-9a-f]{16}\"; Max-Age=3600; HttpOnly$", setCookie);
        var cookie = setCookie.Split(';')[0];
        var answered = new List<string> { first.Received.Hostname };
        for (var i = 0; i < 9; i++)
        {
            var reply = await mesh.GetAsync(Url + "?some-query-param=bar", ("Cookie", cookie));
            Assert.True(reply.Status == 200, reply.ToString());
            Assert.Null(reply.Headers["set-cookie"]);
            answered.Add(reply.Received.Hostname);
        }

        Assert.Single(answered.Distinct());
        Assert.Contains("\"cookie\"", mesh.DumpedRouteConfig("sidecar", "80").GetRawText(), StringComparison.Ordinal);
    }

    // Istio consistentHashCases "http cookie without ttl" (skipped there for the same reason): no ttl, so no cookie is
    // ever set; calls carrying Cookie: session-cookie=somecookie all reach one endpoint.
    [Fact]
    public async Task ACookieWithoutTtlIsHashedWhenTheCallCarriesItAndNeverSet()
    {
        await using var mesh = await StartAsync(Join(PoolEntry("DNS", Endpoints),
            LoadBalancerRule("consistentHash: { httpCookie: { name: session-cookie } }")), 3);

        var answered = new List<string>();
        for (var i = 0; i < 10; i++)
        {
            var reply = await mesh.GetAsync(Url, ("Cookie", "session-cookie=somecookie"));
            Assert.True(reply.Status == 200, reply.ToString());
            Assert.Null(reply.Headers["set-cookie"]);
            answered.Add(reply.Received.Hostname);
        }

        Assert.Single(answered.Distinct());
    }

    // Istio consistentHashCases "no consistent" (routing.go): without a consistent hash, 10 calls to a service with
    // several endpoints do not all reach the same one. No DestinationRule: istiod's defaultLBAlgorithm(), LEAST_REQUEST.
    [Fact]
    public async Task NoConsistentHashSpreadsCallsOverEndpoints()
    {
        await using var mesh = await StartAsync(PoolEntry("DNS", Endpoints), 3);

        var answered = await AnsweredByAsync(mesh, 10);

        Assert.True(answered.Distinct().Count() > 1, $"every call reached {answered[0]}");
        Assert.Equal("LEAST_REQUEST", mesh.DumpedCluster("sidecar", Cluster).GetProperty("lb_policy").GetString());
    }

    // ROUND_ROBIN: Envoy takes the hosts in turn from a random start (round_robin_lb.h unweightedHostPick:
    // hosts[rr_index++ % size]): every run of 3 consecutive calls over 3 endpoints reaches each once, in a fixed order.
    [Fact]
    public async Task RoundRobinTakesEndpointsInTurn()
    {
        await using var mesh = await StartAsync(Join(PoolEntry("DNS", Endpoints), Rule("ROUND_ROBIN")), 3);

        var answered = await AnsweredByAsync(mesh, 9);

        Assert.Equal(3, answered.Take(3).Distinct().Count());
        for (var i = 3; i < answered.Count; i++)
        {
            Assert.True(answered[i] == answered[i - 3], $"call {i} reached {answered[i]}, not {answered[i - 3]}: {string.Join(", ", answered)}");
        }
        Assert.Equal("ROUND_ROBIN", mesh.DumpedCluster("sidecar", Cluster).GetProperty("lb_policy").GetString());
    }

    // RANDOM: Envoy picks hosts[random % size] for each call (random_lb.cc peekOrChoose): over 40 calls to 2 endpoints
    // both answer and some endpoint answers twice in a row (each fails with probability 2^-39: no turn-taking).
    [Fact]
    public async Task RandomPicksEachCallIndependently()
    {
        await using var mesh = await StartAsync(Join(PoolEntry("DNS", Endpoints[..2]), Rule("RANDOM")), 2);

        var answered = await AnsweredByAsync(mesh, 40);

        Assert.Equal(2, answered.Distinct().Count());
        Assert.Contains(Enumerable.Range(1, answered.Count - 1), i => answered[i] == answered[i - 1]);
        Assert.Equal("RANDOM", mesh.DumpedCluster("sidecar", Cluster).GetProperty("lb_policy").GetString());
    }

    // LEAST_REQUEST (Istio's default): Envoy samples 2 hosts with replacement and keeps the one with fewer active
    // requests (least_request_lb.cc unweightedHostPickNChoices, choice_count 2). With one of 2 endpoints busy, a call
    // reaches it only when both samples are it: probability 1/4 (RANDOM would be 1/2). 200 calls while alpha holds one
    // request; chi-square of alpha/beta against 1/4 : 3/4 at ChiSquare.Alpha (a RANDOM picker gives χ² ≈ 67).
    [Fact]
    public async Task LeastRequestSendsFewCallsToTheBusyEndpoint()
    {
        await using var mesh = await StartAsync(PoolEntry("DNS", Endpoints[..2]), 2);
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        mesh.Echo("alpha.pool").Behaviour = async (context, _) =>
        {
            if (!context.Request.Headers.ContainsKey("x-hold"))
            {
                return false;
            }
            await release.Task;
            return false;
        };

        // Calls marked x-hold until one is held by alpha (beta answers them at once).
        Task<Reply>? held = null;
        for (var i = 0; i < 50 && held is null; i++)
        {
            var before = mesh.Echo("alpha.pool").Count;
            var call = mesh.GetAsync(Url, ("x-hold", "1"));
            var deadline = DateTime.UtcNow.AddSeconds(5);
            while (!call.IsCompleted && mesh.Echo("alpha.pool").Count == before && DateTime.UtcNow < deadline)
            {
                await Task.Delay(5);
            }
            if (call.IsCompleted)
            {
                Assert.Equal("beta", (await call).Received.Hostname);
            }
            else
            {
                held = call;
            }
        }
        Assert.NotNull(held);

        const int calls = 200;
        var answered = await AnsweredByAsync(mesh, calls);
        release.SetResult();
        Assert.Equal(200, (await held).Status);

        var alpha = answered.Count(a => a == "alpha");
        ChiSquare.AssertFits(output, "LEAST_REQUEST with alpha busy", ("alpha (busy)", alpha, 1), ("beta", calls - alpha, 3));
    }

    // cluster_traffic_policy.go applyLoadBalancer: LEAST_CONN and LEAST_REQUEST become LEAST_REQUEST, RANDOM and
    // ROUND_ROBIN themselves, no loadBalancer or UNSPECIFIED defaultLBAlgorithm() = LEAST_REQUEST, and a cluster of
    // type ORIGINAL_DST (resolution NONE) CLUSTER_PROVIDED whatever the rule says.
    [Theory]
    [InlineData(null, "DNS", "LEAST_REQUEST")]
    [InlineData("UNSPECIFIED", "DNS", "LEAST_REQUEST")]
    [InlineData("LEAST_CONN", "DNS", "LEAST_REQUEST")]
    [InlineData("LEAST_REQUEST", "DNS", "LEAST_REQUEST")]
    [InlineData("ROUND_ROBIN", "DNS", "ROUND_ROBIN")]
    [InlineData("RANDOM", "STATIC", "RANDOM")]
    [InlineData("ROUND_ROBIN", "NONE", "CLUSTER_PROVIDED")]
    public void ConfigDumpShowsTheLbPolicyIstiodWrites(string? simple, string resolution, string lbPolicy)
    {
        // Resolution NONE takes no endpoints (the CRD's CEL rule "NONE mode cannot set endpoints").
        var endpoints = resolution == "NONE" ? [] : Endpoints;
        var yaml = simple is null ? PoolEntry(resolution, endpoints) : Join(PoolEntry(resolution, endpoints), Rule(simple));

        Assert.Equal(lbPolicy, DumpedSidecarCluster(yaml, Cluster).GetProperty("lb_policy").GetString());
    }

    // destination_rule.go MergeTrafficPolicy: a subset's loadBalancer replaces the rule's; util.go
    // GetPortLevelTrafficPolicy: a port-level entry replaces the whole policy for its port, so a port-level entry
    // without loadBalancer falls back to the default (LEAST_REQUEST), not to the rule's.
    [Fact]
    public void SubsetAndPortLevelLoadBalancersOverrideTheRulesAsIstioMergesThem()
    {
        var yaml = Join(PoolEntry("DNS", Endpoints), $"""
            apiVersion: networking.istio.io/v1
            kind: DestinationRule
            metadata:
              name: pool-balancing
            spec:
              host: {Pool}
              trafficPolicy:
                loadBalancer:
                  simple: ROUND_ROBIN
              subsets:
                - name: random
                  trafficPolicy:
                    loadBalancer:
                      simple: RANDOM
                - name: port-level
                  trafficPolicy:
                    portLevelSettings:
                      - port:
                          number: 80
                        connectionPool:
                          tcp:
                            maxConnections: 10
                - name: inherits
            """);

        Assert.Equal("ROUND_ROBIN", DumpedSidecarCluster(yaml, Cluster).GetProperty("lb_policy").GetString());
        Assert.Equal("RANDOM", DumpedSidecarCluster(yaml, "outbound|80|random|pool.external").GetProperty("lb_policy").GetString());
        Assert.Equal("LEAST_REQUEST", DumpedSidecarCluster(yaml, "outbound|80|port-level|pool.external").GetProperty("lb_policy").GetString());
        Assert.Equal("ROUND_ROBIN", DumpedSidecarCluster(yaml, "outbound|80|inherits|pool.external").GetProperty("lb_policy").GetString());
    }

    private static JsonElement DumpedSidecarCluster(string yaml, string name)
    {
        var config = IstioConfigLoader.Parse("istio.yaml", Base(yaml));
        Assert.False(config.HasErrors, string.Join("\n", config.Diagnostics));
        var sidecar = IstioTranslator.Translate(config, new MeshEnvironment()).Sidecar;
        using var dump = JsonDocument.Parse(ConfigDump.ToJson(sidecar, ConfigDump.ClustersResource));
        return dump.RootElement.EnumerateArray().Single(c => c.GetProperty("name").GetString() == name).Clone();
    }
}
