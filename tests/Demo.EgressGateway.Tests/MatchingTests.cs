namespace Demo.EgressGateway.Tests;

/// <summary>VirtualService match: uri, headers, authority, port and gateways; the first matching route wins.</summary>
public sealed class MatchingTests
{
    private static void NoFaults(ConfigFolder folder) => folder.Write(MeshYaml.EgressFile, MeshYaml.Egress());

    [Fact]
    public async Task The_header_route_scenario_sends_end_user_jason_to_v2_and_everyone_else_to_v1()
    {
        await using var gateway = await GatewayHost.StartAsync(NoFaults, scenario: "virtual-service-hello-header-route");

        for (var i = 0; i < 30; i++)
        {
            Assert.Equal((200, "Hello K8s, from CF v2 service!"),
                await gateway.GetAsync(configure: r => r.Headers.Add("end-user", "jason")));
            Assert.Equal((200, "Hello K8s, from CF v1 service!"),
                await gateway.GetAsync(configure: r => r.Headers.Add("end-user", "mary")));
            Assert.Equal((200, "Hello K8s, from CF v1 service!"), await gateway.GetAsync());
        }
    }

    [Fact]
    public async Task Uri_authority_port_and_regex_matches_pick_the_first_route_that_applies()
    {
        await using var gateway = await GatewayHost.StartAsync(folder =>
        {
            NoFaults(folder);
            folder.Write(MeshYaml.SidecarFile, """
                apiVersion: networking.istio.io/v1
                kind: VirtualService
                metadata:
                  name: hello
                spec:
                  hosts: [hello.external]
                  gateways: [mesh]
                  http:
                    - name: exact-v2
                      match:
                        - uri: { exact: /v2 }
                          port: 80
                        - uri: { regex: "/ver(sion)?-two/[0-9]+" }
                      rewrite: { uri: / }
                      route:
                        - destination: { host: istio-egressgateway.istio-system.svc.cluster.local, subset: v2, port: { number: 443 } }
                          headers: { request: { set: { host: hello-istio-v2.apps.example.com } } }
                    - name: wrong-port
                      match:
                        - port: 8080
                      route:
                        - destination: { host: istio-egressgateway.istio-system.svc.cluster.local, subset: v2, port: { number: 443 } }
                          headers: { request: { set: { host: hello-istio-v2.apps.example.com } } }
                    - name: prefix-v1
                      match:
                        - uri: { prefix: / }
                          authority: { exact: hello.external }
                          gateways: [mesh]
                      route:
                        - destination: { host: istio-egressgateway.istio-system.svc.cluster.local, subset: v1, port: { number: 443 } }
                          headers: { request: { set: { host: hello-istio-v1.apps.example.com } } }
                """);
        });

        Assert.Equal((200, "Hello K8s, from CF v2 service!"), await gateway.GetAsync("http://hello.external/v2"));
        Assert.Equal((200, "Hello K8s, from CF v2 service!"), await gateway.GetAsync("http://hello.external/version-two/42"));
        Assert.Equal((200, "Hello K8s, from CF v1 service!"), await gateway.GetAsync("http://hello.external/version-two/x"));
        Assert.Equal((200, "Hello K8s, from CF v1 service!"), await gateway.GetAsync("http://hello.external/v2/more"));
        Assert.Equal((200, "Hello K8s, from CF v1 service!"), await gateway.GetAsync("http://hello.external/"));
        Assert.Equal(["/", "/", "/version-two/x", "/v2/more", "/"], gateway.Upstream.Paths.ToArray());
    }

    [Fact]
    public async Task A_request_no_route_matches_gets_404_NR()
    {
        await using var gateway = await GatewayHost.StartAsync(folder =>
        {
            NoFaults(folder);
            folder.Replace(MeshYaml.SidecarFile, "    - name: hello-split\n", "    - name: hello-split\n      match:\n        - uri:\n            prefix: /only-here\n");
        });

        var (status, _) = await gateway.GetAsync();

        Assert.Equal(404, status);
        Assert.Equal(0, gateway.Upstream.TotalHits);
        Assert.Contains(gateway.Logs.Messages(), m => m.StartsWith("[sidecar]", StringComparison.Ordinal) && m.Contains(" 404 NR ", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_registered_host_without_a_VirtualService_takes_Istios_default_route_to_its_own_port_only()
    {
        // Istio's sidecar TLS origination layout: an HTTP port 80 whose endpoints listen on 443 (targetPort), and a
        // DestinationRule that originates TLS for port 80. No VirtualService: the default route (route "default",
        // cluster outbound|80||host) takes it there; port 443 of that host has no HTTP listener.
        await using var gateway = await GatewayHost.StartAsync(folder =>
        {
            NoFaults(folder);
            folder.Write("service-entry-hello-cf.yaml", $$"""
                apiVersion: networking.istio.io/v1
                kind: ServiceEntry
                metadata:
                  name: hello-cf
                  namespace: demo
                spec:
                  hosts: [{{GatewayHost.V1Host}}]
                  location: MESH_EXTERNAL
                  ports:
                    - { number: 80, name: http, protocol: HTTP, targetPort: 443 }
                  resolution: DNS
                """);
            folder.Write("destination-rule-hello-istio-v1.yaml", $$"""
                apiVersion: networking.istio.io/v1
                kind: DestinationRule
                metadata:
                  name: hello-istio-v1
                  namespace: demo
                spec:
                  host: {{GatewayHost.V1Host}}
                  trafficPolicy:
                    portLevelSettings:
                      - port: { number: 80 }
                        tls: { mode: SIMPLE, sni: {{GatewayHost.V1Host}}, subjectAltNames: [{{GatewayHost.V1Host}}] }
                """);
        });

        var direct = await gateway.GetAsync($"http://{GatewayHost.V1Host}/");
        await Assert.ThrowsAsync<HttpRequestException>(() => gateway.GetAsync($"http://{GatewayHost.V1Host}:443/"));

        Assert.Equal((200, "Hello K8s, from CF v1 service!"), direct);
        Assert.Equal(1, gateway.Upstream.TotalHits);
        Assert.Contains(gateway.Logs.Messages(), m => m.StartsWith("[sidecar]", StringComparison.Ordinal)
            && m.Contains($" 200 - attempts=1 route=default cluster=outbound|80||{GatewayHost.V1Host} ", StringComparison.Ordinal));
    }
}
