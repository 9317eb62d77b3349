using static Demo.Conformance.Tests.MeshYaml;

namespace Demo.Conformance.Tests;

/// <summary>
/// Istio's Host cases ("set host header multi destination", "set host header in route and multi destination")
/// applied to this project's own layout (deploy/istio): the sidecar splits <c>hello.external</c> between two egress
/// gateway subsets, one per Cloud Foundry host, and the gateway routes by Host and originates TLS to each host.
/// </summary>
public sealed class EgressGatewayShiftTests
{
    private const string V1 = "hello-istio-v1.apps.example.com";
    private const string V2 = "hello-istio-v2.apps.example.com";

    private static string Layout(string routeHeaders) => Join(
        ServiceEntry("hello.external"),
        ServiceEntry(V1, (443, "HTTPS")),
        ServiceEntry(V2, (443, "HTTPS")),
        EgressGatewayResource("istio-egressgateway", V1, V2),
        $"""
        apiVersion: networking.istio.io/v1
        kind: DestinationRule
        metadata:
          name: istio-egressgateway
        spec:
          host: {ConformanceMesh.EgressGatewayService}
          subsets:
            - name: v1
              trafficPolicy:
                portLevelSettings:
                  - port:
                      number: 443
                    tls:
                      mode: ISTIO_MUTUAL
                      sni: {V1}
            - name: v2
              trafficPolicy:
                portLevelSettings:
                  - port:
                      number: 443
                    tls:
                      mode: ISTIO_MUTUAL
                      sni: {V2}
        """,
        TlsOrigination(V1),
        TlsOrigination(V2),
        $"""
        apiVersion: networking.istio.io/v1
        kind: VirtualService
        metadata:
          name: hello
        spec:
          hosts:
            - hello.external
          http:
            - name: hello-split
              route:
                - destination:
                    host: {ConformanceMesh.EgressGatewayService}
                    subset: v1
                    port:
                      number: 443
                  weight: 50
                  headers:
                    request:
                      set:
                        host: {V1}
                - destination:
                    host: {ConformanceMesh.EgressGatewayService}
                    subset: v2
                    port:
                      number: 443
                  weight: 50
                  headers:
                    request:
                      set:
                        host: {V2}
        {routeHeaders}
        """,
        $"""
        apiVersion: networking.istio.io/v1
        kind: VirtualService
        metadata:
          name: hello-egress
        spec:
          hosts:
            - {V1}
            - {V2}
          gateways:
            - istio-egressgateway
          http:
            - name: hello-v1
              match:
                - gateways:
                    - istio-egressgateway
                  port: 443
                  authority:
                    exact: {V1}
              route:
                - destination:
                    host: {V1}
                    port:
                      number: 443
            - name: hello-v2
              match:
                - gateways:
                    - istio-egressgateway
                  port: 443
                  authority:
                    exact: {V2}
              route:
                - destination:
                    host: {V2}
                    port:
                      number: 443
        """);

    private static string TlsOrigination(string host) => $"""
        apiVersion: networking.istio.io/v1
        kind: DestinationRule
        metadata:
          name: {host.Split('.')[0]}
        spec:
          host: {host}
          trafficPolicy:
            portLevelSettings:
              - port:
                  number: 443
                tls:
                  mode: SIMPLE
                  sni: {host}
                  subjectAltNames:
                    - {host}
        """;

    private static async Task<(int V1, int V2)> SendAsync(ConformanceMesh mesh, int calls)
    {
        for (var i = 0; i < calls; i++)
        {
            var reply = await mesh.GetAsync("http://hello.external/");
            Assert.Equal(200, reply.Status);
            Assert.Equal(reply.Received.Sni, reply.Received.Host);
        }
        return (mesh.Echo(V1).Count, mesh.Echo(V2).Count);
    }

    // Istio case "set host header multi destination" in this project's layout: each weighted destination's Host
    // reaches its own CF host (Host = SNI = that host), and both versions get traffic. P(one version gets none of
    // 60 calls at 50/50) = 2·0.5^60.
    [Fact]
    public async Task PerDestinationHostReachesEachVersionThroughTheEgressGateway()
    {
        await using var mesh = await ConformanceMesh.StartAsync(Layout(""), new External(V1, Tls: true), new External(V2, Tls: true));

        var (v1, v2) = await SendAsync(mesh, 60);

        Assert.True(v1 > 0 && v2 > 0, $"v1 {v1}, v2 {v2}");
        Assert.All(mesh.Echo(V1).Received, r => Assert.Equal(V1, r.Host));
        Assert.All(mesh.Echo(V2).Received, r => Assert.Equal(V2, r.Host));
    }

    // Istio case "set host header in route and multi destination" in this project's layout: the route-level Host
    // beats the per-destination ones, so every request leaves the sidecar with Host v1 — whichever subset (SNI) was
    // picked — and the egress gateway, which picks its route by Host, sends all of them to v1. The 50/50 split
    // silently becomes 100/0: the bug class issue 13 is about. P(a correct split sends 0 of 60 to v2) = 0.5^60.
    [Fact]
    public async Task RouteLevelHostSendsEveryVersionToOneHostThroughTheEgressGateway()
    {
        await using var mesh = await ConformanceMesh.StartAsync(Layout($"""
                  headers:
                    request:
                      set:
                        host: {V1}
            """), new External(V1, Tls: true), new External(V2, Tls: true));

        var (v1, v2) = await SendAsync(mesh, 60);

        Assert.Equal(60, v1);
        Assert.Equal(0, v2);
    }
}
