using System.Net;
using Demo.Proxy;

namespace Demo.EgressGateway.Tests;

/// <summary>
/// Each pattern folder of deploy/istio/patterns, loaded as <c>--Pattern</c> loads it, carries the demo's call — the
/// proxy's request through its sidecar and, where the pattern has one, the egress gateway — to the real local CF
/// router and apps, with the outcome Istio's proxies give that configuration.
/// </summary>
public sealed class PatternTests
{
    private static string PatternFolder(string name) => Path.Combine(ConfigFolder.DeployIstio, "patterns", name);

    private static Task<GatewayHost> StartAsync(CfPlatform platform, string pattern, Dictionary<string, string?>? settings = null)
    {
        var all = platform.GatewayUpstreams;
        all["EgressGateway:ConfigDirectory"] = PatternFolder(pattern);
        foreach (var (key, value) in settings ?? [])
        {
            all[key] = value;
        }
        return GatewayHost.StartAsync(settings: all);
    }

    // istio.io egress-gateway task, "Egress gateway for HTTPS traffic", with the mesh's mTLS between sidecar and
    // gateway: the app's https:// call is a CONNECT to its sidecar (the local stand-in for interception), the sidecar's
    // tls route picks the gateway subset by SNI, the gateway's TLS server terminates the mTLS and its tcp route passes
    // the app's own TLS to the CF router, which answers as v1 (the Host the app sent).
    [Fact]
    public async Task PassthroughAtGateway_carries_the_apps_own_tls_to_the_cf_host_through_the_gateway()
    {
        await using var platform = await CfPlatform.StartWithAppsAsync();
        await using var gateway = await StartAsync(platform, "passthrough-at-gateway");
        using (var app = AppClient(gateway))
        {
            for (var i = 0; i < 5; i++)
            {
                Assert.Equal("Hello K8s, from CF v1 service!", await app.GetStringAsync(new Uri($"https://{GatewayHost.V1Host}/")));
            }
        }

        // Envoy's tcp_proxy writes its access-log line when the connection closes, which the disposed client did — each
        // proxy when its own side closes, in either order.
        static bool SidecarLine(string l) => l.Contains("cluster=outbound|443|v1|istio-egressgateway.istio-system.svc.cluster.local ", StringComparison.Ordinal)
            && l.Contains($"sni={GatewayHost.V1Host} ", StringComparison.Ordinal);
        await WaitForAsync(() => gateway.Logs.Messages().Any(l => l.Contains($"cluster=outbound|443||{GatewayHost.V1Host} ", StringComparison.Ordinal))
            && gateway.Logs.Messages().Any(SidecarLine));
        Assert.Contains(gateway.Logs.Messages(), l => l.Contains($"cluster=outbound|443||{GatewayHost.V1Host} ", StringComparison.Ordinal));
        Assert.Contains(gateway.Logs.Messages(), SidecarLine);
        // No HTTP at either proxy: no fault, no weights; the mesh sees TLS only.
        Assert.DoesNotContain(gateway.Logs.Messages(), l => l.Contains("\"GET / HTTP", StringComparison.Ordinal));
    }

    // Each TLS server of the Gateway takes the tcp route of the VirtualService whose hosts it admits (gateway.go
    // buildGatewayNetworkFiltersFromTCPRoutes, pickMatchingGatewayHosts): v2's server never uses v1's route, even where
    // the two hosts resolve to different places (here v1 to a port nothing listens on).
    [Fact]
    public async Task PassthroughAtGateway_sends_each_host_through_its_own_servers_tcp_route()
    {
        await using var platform = await CfPlatform.StartWithAppsAsync();
        await using var gateway = await StartAsync(platform, "passthrough-at-gateway",
            new() { [$"EgressGateway:Upstreams:{GatewayHost.V1Host}"] = $"127.0.0.1:{GatewayHost.FreePort()}" });
        using (var app = AppClient(gateway))
        {
            Assert.Equal("Hello K8s, from CF v2 service!", await app.GetStringAsync(new Uri($"https://{GatewayHost.V2Host}/")));
            await Assert.ThrowsAsync<HttpRequestException>(() => app.GetStringAsync(new Uri($"https://{GatewayHost.V1Host}/")));
        }

        await WaitForAsync(() => gateway.Logs.Messages().Count(l => l.Contains("cluster=outbound|443||", StringComparison.Ordinal)) >= 2);
        Assert.Contains(gateway.Logs.Messages(), l => l.Contains($"cluster=outbound|443||{GatewayHost.V2Host} ", StringComparison.Ordinal)
            && l.Contains($"sni={GatewayHost.V2Host} ", StringComparison.Ordinal));
        Assert.DoesNotContain(gateway.Logs.Messages(), l => l.Contains($"cluster=outbound|443||{GatewayHost.V1Host} ", StringComparison.Ordinal)
            && l.Contains($"sni={GatewayHost.V2Host} ", StringComparison.Ordinal));
    }

    private static HttpClient AppClient(GatewayHost gateway) => new(new SocketsHttpHandler
    {
        Proxy = new WebProxy(gateway.Url),
        UseProxy = true,
        SslOptions = UpstreamTrust.ClientOptions(TestCa.Authority.CaCertificatePath),
    });

    // With the app's TLS untouched, the CF router's certificate is what the app checks: an app that does not trust it
    // fails its own handshake; the mesh cannot help (it never terminates the app's TLS).
    [Fact]
    public async Task PassthroughAtGateway_leaves_certificate_trust_to_the_app()
    {
        await using var platform = await CfPlatform.StartWithAppsAsync();
        await using var gateway = await StartAsync(platform, "passthrough-at-gateway");
        using var app = new HttpClient(new SocketsHttpHandler { Proxy = new WebProxy(gateway.Url), UseProxy = true });

        var failure = await Assert.ThrowsAsync<HttpRequestException>(() => app.GetStringAsync(new Uri($"https://{GatewayHost.V1Host}/")));
        Assert.IsType<System.Security.Authentication.AuthenticationException>(failure.InnerException);
    }

    // istio.io egress-tls-origination task: the sidecar itself originates TLS, so its route's weights reach both apps
    // and no request passes an egress gateway.
    [Fact]
    public async Task OriginationAtSidecar_splits_between_both_apps_with_no_gateway_hop()
    {
        await using var platform = await CfPlatform.StartWithAppsAsync();
        await using var gateway = await StartAsync(platform, "origination-at-sidecar");

        var bodies = new HashSet<string>();
        for (var i = 0; i < 40 && bodies.Count < 2; i++)
        {
            var (status, body) = await gateway.GetAsync();
            Assert.Equal(200, status);
            bodies.Add(body);
        }

        Assert.Equal(["Hello K8s, from CF v1 service!", "Hello K8s, from CF v2 service!"], bodies.Order());
        Assert.Equal(0, gateway.Logs.GatewayLines);
        Assert.Contains(gateway.Logs.Messages(), l => l.Contains($"outbound|443||{GatewayHost.V1Host}", StringComparison.Ordinal));
    }

    // istio.io egress-gateway-tls-origination task, "Perform mutual TLS origination with an egress gateway": the CF
    // router requires a client certificate (gorouter client_cert_validation: require) and the gateway presents the one
    // of the DestinationRule's credentialName.
    [Fact]
    public async Task MutualTlsOrigination_presents_the_credentials_client_certificate_to_a_router_that_requires_one()
    {
        var credential = TestCa.Authority.EnsureClientCredential("hello-cf-client", "istio-egressgateway.istio-system.svc.cluster.local");
        await using var platform = await CfPlatform.StartWithAppsAsync(clientCertValidation: "require");
        await using var gateway = await StartAsync(platform, "mutual-tls-origination",
            new() { ["EgressGateway:Credentials:hello-cf-client"] = credential });

        var answers = new HashSet<(int, string)>();
        for (var i = 0; i < 40 && !answers.Any(a => a is (200, _)); i++)
        {
            answers.Add(await gateway.GetAsync());
        }

        Assert.Contains(answers, a => a is (200, "Hello K8s, from CF v1 service!") or (200, "Hello K8s, from CF v2 service!"));
        Assert.All(answers, a => Assert.True(a is (200, _) or (418, "fault filter abort"), $"{a}"));
    }

    // The same router, and the default pattern's SIMPLE origination: no client certificate, so the router refuses the
    // connection and the gateway answers 503 (Envoy: UF at the handshake; here the handshake completes first and the
    // router closes the connection, UC).
    [Fact]
    public async Task Simple_origination_fails_against_a_router_that_requires_a_client_certificate()
    {
        await using var platform = await CfPlatform.StartWithAppsAsync(clientCertValidation: "require");
        await using var gateway = await GatewayHost.StartAsync(settings: platform.GatewayUpstreams);

        var answers = new HashSet<int>();
        for (var i = 0; i < 10; i++)
        {
            answers.Add((await gateway.GetAsync()).Status);
        }

        Assert.Contains(503, answers);
        Assert.DoesNotContain(200, answers);
    }

    private static async Task WaitForAsync(Func<bool> condition)
    {
        for (var deadline = DateTime.UtcNow.AddSeconds(5); !condition() && DateTime.UtcNow < deadline;)
        {
            await Task.Delay(10);
        }
    }
}
