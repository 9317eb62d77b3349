using Demo.DevCertificates;

namespace Demo.EgressGateway.Tests;

public sealed class RoutingTests
{
    // Expected bodies are Envoy's local replies, as literals: "fault filter abort" (envoy source/extensions/filters/http/fault/fault_filter.cc,
    // FaultFilter::abortWithStatus) and "no healthy upstream" (envoy source/common/router/router.cc, Filter::sendNoHealthyUpstreamResponse).

    private const string Egress = "virtual-service-hello-egress.yaml";
    private const string Sidecar = "virtual-service-hello.yaml";

    internal static void NoFaults(ConfigFolder folder) =>
        folder.Write(Egress, folder.Read(Egress).Replace("value: 10", "value: 0", StringComparison.Ordinal));

    [Fact]
    public async Task Default_configuration_splits_between_v1_and_v2_and_injects_418_faults()
    {
        await using var gateway = await GatewayHost.StartAsync();

        var answers = new List<(int Status, string Body)>();
        for (var i = 0; i < 200; i++)
        {
            answers.Add(await gateway.GetAsync());
        }

        Assert.Contains(answers, a => a is (200, "Hello K8s, from CF v1 service!"));
        Assert.Contains(answers, a => a is (200, "Hello K8s, from CF v2 service!"));
        Assert.Contains(answers, a => a is (418, "fault filter abort"));
        Assert.All(answers, a => Assert.True(a.Status is 200 or 418, $"unexpected {a}"));
    }

    [Fact]
    public async Task Weights_100_0_send_everything_to_v1()
    {
        await using var gateway = await GatewayHost.StartAsync(folder =>
        {
            NoFaults(folder);
            var text = folder.Read(Sidecar);
            var first = text.IndexOf("weight: 50", StringComparison.Ordinal);
            text = text[..first] + "weight: 100" + text[(first + "weight: 50".Length)..];
            folder.Write(Sidecar, text.Replace("weight: 50", "weight: 0", StringComparison.Ordinal));
        });

        for (var i = 0; i < 100; i++)
        {
            Assert.Equal((200, "Hello K8s, from CF v1 service!"), await gateway.GetAsync());
        }
        Assert.Equal(0, gateway.Upstream.Hits(GatewayHost.V2Host));
    }

    internal static void RemoveHostRewrites(ConfigFolder folder)
    {
        var lines = folder.Read(Sidecar).Split('\n')
            .Where(l => l.Trim() is not ("headers:" or "request:" or "set:")
                && !l.TrimStart().StartsWith("host: hello-istio-", StringComparison.Ordinal));
        folder.Write(Sidecar, string.Join('\n', lines));
    }

    [Fact]
    public async Task Without_the_per_destination_Host_the_egress_gateway_has_no_route_for_the_in_mesh_name()
    {
        // The seed's bug through the egress gateway: the request keeps Host hello.external, for which the
        // gateway has no route (404 NR), and the analyzer names the missing per-destination Host.
        await using var gateway = await GatewayHost.StartAsync(folder =>
        {
            NoFaults(folder);
            RemoveHostRewrites(folder);
        });

        for (var i = 0; i < 20; i++)
        {
            Assert.Equal(404, (await gateway.GetAsync()).Status);
        }
        Assert.Equal(0, gateway.Upstream.TotalHits);
        Assert.Contains(gateway.Logs.Messages(LogLevel.Warning), m => m.Contains("headers.request.set.host", StringComparison.Ordinal)
            && m.Contains("404 unknown_route", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Without_the_per_destination_Host_the_CF_router_answers_404_unknown_route()
    {
        // The seed's bug where the request does reach Cloud Foundry: weighted straight to the two external
        // hosts (TLS originated by their DestinationRules) with the Host left as the in-mesh name.
        await using var gateway = await GatewayHost.StartAsync(folder =>
        {
            NoFaults(folder);
            RemoveHostRewrites(folder);
            var text = folder.Read(Sidecar)
                .Replace("host: istio-egressgateway.istio-system.svc.cluster.local\n            subset: v1", $"host: {GatewayHost.V1Host}", StringComparison.Ordinal)
                .Replace("host: istio-egressgateway.istio-system.svc.cluster.local\n            subset: v2", $"host: {GatewayHost.V2Host}", StringComparison.Ordinal);
            folder.Write(Sidecar, text);
            // Straight from the sidecar, the CF hosts and their TLS rules must be visible in the app's namespace.
            foreach (var file in new[] { "service-entry-hello-cf.yaml", "destination-rule-hello-istio-v1.yaml", "destination-rule-hello-istio-v2.yaml" })
            {
                folder.Replace(file, "  exportTo:\n    - \".\"", "  exportTo:\n    - \"*\"");
            }
        });

        for (var i = 0; i < 20; i++)
        {
            var (status, body) = await gateway.GetAsync();
            Assert.True(status == 404, $"{status} {body} {string.Join("\n", gateway.Logs.Messages())}");
            Assert.Contains("Requested route ('hello.external') does not exist", body, StringComparison.Ordinal);
        }
        Assert.Equal(20, gateway.Upstream.Hits("hello.external"));
        Assert.Contains(gateway.Logs.Messages(LogLevel.Warning), m => m.Contains("keep the Host 'hello.external'", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_host_no_ServiceEntry_registers_gets_502_and_reaches_nobody()
    {
        await using var gateway = await GatewayHost.StartAsync(NoFaults);

        var (status, _) = await gateway.GetAsync("http://unregistered.example.com/");
        var (direct, _) = await gateway.GetAsync($"http://{GatewayHost.V1Host}/");

        // REGISTRY_ONLY: Istio's block_all virtual host answers with a direct response — 502, no response flag,
        // reported against the BlackHoleCluster. The CF hosts are not registered for the app's sidecar either
        // (their ServiceEntry is exported to the egress gateway's namespace only).
        Assert.Equal(502, status);
        Assert.Equal(502, direct);
        Assert.Equal(0, gateway.Upstream.TotalHits);
        Assert.Equal(2, gateway.Logs.Messages().Count(m => m.StartsWith("[sidecar]", StringComparison.Ordinal)
            && m.Contains(" 502 - attempts=0 route=block_all cluster=BlackHoleCluster ", StringComparison.Ordinal)));
        Assert.DoesNotContain(gateway.Logs.Messages(), m => m.Contains(" NR ", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_certificate_whose_SAN_does_not_match_is_refused_with_503_UF_and_a_log_line()
    {
        var upstream = await TestUpstream.StartAsync(TestCa.Certificate,
            new Dictionary<string, string> { [GatewayHost.V1Host] = "v1", [GatewayHost.V2Host] = "v2" },
            _ => LocalCertificateAuthority.IssueServerCertificate(TestCa.Certificate, "somebody-else.example.com",
                DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddDays(1)));
        await using var gateway = await GatewayHost.StartAsync(NoFaults, upstream);

        var (status, body) = await gateway.GetAsync();

        // The gateway's 3 failed TLS handshakes (Istio's default retries on connect-failure) also trip the
        // DestinationRule's outlier detection, so the sidecar's retries meet 503 UH: still a 503, never a downgrade.
        Assert.Equal(503, status);
        Assert.True(body.StartsWith("upstream connect error or disconnect/reset before headers", StringComparison.Ordinal)
            || body == "no healthy upstream", body);
        Assert.Equal(0, upstream.TotalHits);
        Assert.Contains(gateway.Logs.Messages(LogLevel.Warning), m =>
            m.Contains("TLS origination to hello-istio-v", StringComparison.Ordinal)
            && m.Contains("somebody-else.example.com", StringComparison.Ordinal));
        Assert.Contains(gateway.Logs.Messages(), m => m.StartsWith("[gateway]", StringComparison.Ordinal) && m.Contains(" 503 UF,URX attempts=3 ", StringComparison.Ordinal));
    }
}
