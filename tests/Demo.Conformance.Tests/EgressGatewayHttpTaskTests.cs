using static Demo.Conformance.Tests.MeshYaml;

namespace Demo.Conformance.Tests;

/// <summary>
/// istio.io's egress-gateway task, its first example (content/en/docs/tasks/traffic-management/egress/egress-gateway):
/// plain HTTP to an external host through the egress gateway — a ServiceEntry on port 80, a Gateway server
/// <c>port 80, protocol HTTP</c>, a DestinationRule subset for the gateway and one VirtualService bound to the mesh and
/// to the gateway. The sidecar reaches the gateway's Service port 80, named <c>http2</c> in Istio's default egress
/// gateway, so its cluster speaks HTTP/2 (cluster_builder.go: an HTTP2 port's cluster gets HTTP/2 protocol options):
/// cleartext with prior knowledge, which the gateway's connection manager (codec AUTO) detects. The task's docs show
/// the gateway's access log as <c>"GET /politics HTTP/2" 301</c>.
/// </summary>
public sealed class EgressGatewayHttpTaskTests
{
    private const string Cnn = "edition.cnn.com";

    private static readonly string Yaml = Layout(istioMutual: false);

    // The egress-gateway-tls-origination task's layout: the same port 80, its server HTTPS with ISTIO_MUTUAL and the
    // gateway's DestinationRule subset sending ISTIO_MUTUAL with sni edition.cnn.com.
    private static readonly string MutualYaml = Layout(istioMutual: true);

    private static string Layout(bool istioMutual) => Join(
        ServiceEntry(Cnn, (80, "HTTP"), (443, "HTTPS")),
        $"""
        apiVersion: networking.istio.io/v1
        kind: Gateway
        metadata:
          name: istio-egressgateway
        spec:
          selector:
            istio: egressgateway
          servers:
            - port:
                number: 80
                name: {(istioMutual ? "https" : "http")}
                protocol: {(istioMutual ? "HTTPS" : "HTTP")}
              hosts:
                - {Cnn}
        {(istioMutual ? "      tls:\n        mode: ISTIO_MUTUAL" : "")}
        """,
        $"""
        apiVersion: networking.istio.io/v1
        kind: DestinationRule
        metadata:
          name: egressgateway-for-cnn
        spec:
          host: {ConformanceMesh.EgressGatewayService}
          subsets:
            - name: cnn
        {(istioMutual ? $"      trafficPolicy:\n        portLevelSettings:\n          - port:\n              number: 80\n            tls:\n              mode: ISTIO_MUTUAL\n              sni: {Cnn}" : "")}
        """,
        $"""
        apiVersion: networking.istio.io/v1
        kind: VirtualService
        metadata:
          name: direct-cnn-through-egress-gateway
        spec:
          hosts:
            - {Cnn}
          gateways:
            - istio-egressgateway
            - mesh
          http:
            - match:
                - gateways: [mesh]
                  port: 80
              route:
                - destination:
                    host: {ConformanceMesh.EgressGatewayService}
                    subset: cnn
                    port:
                      number: 80
                  weight: 100
            - match:
                - gateways: [istio-egressgateway]
                  port: 80
              route:
                - destination:
                    host: {Cnn}
                    port:
                      number: 80
                  weight: 100
        """);

    [Fact]
    public async Task PlainHttpThroughTheGatewayReachesTheHostAndTheGatewayLogsHttp2()
    {
        await using var mesh = await ConformanceMesh.StartAsync(Yaml, new External(Cnn));

        var reply = await mesh.GetAsync($"http://{Cnn}/politics");

        Assert.True(reply.Status == 200, string.Join("\n", mesh.Logs));
        Assert.Equal("/politics", reply.Received.Url);
        Assert.Equal(Cnn, reply.Received.Host);
        var sidecar = mesh.LastAccessLog("sidecar");
        Assert.StartsWith("[sidecar] \"GET /politics HTTP/1.1\" 200 ", sidecar.Line, StringComparison.Ordinal);
        // No DestinationRule TLS and no auto mTLS to the gateway's pods: plain text.
        Assert.False(mesh.DumpedCluster("sidecar", $"outbound|80|cnn|{ConformanceMesh.EgressGatewayService}").TryGetProperty("transport_socket", out _));
        Assert.Contains($"cluster=outbound|80|cnn|{ConformanceMesh.EgressGatewayService} ", sidecar.Line, StringComparison.Ordinal);
        var gateway = mesh.LastAccessLog("gateway");
        Assert.StartsWith("[gateway] \"GET /politics HTTP/2\" 200 ", gateway.Line, StringComparison.Ordinal);
        Assert.Contains($"cluster=outbound|80||{Cnn} ", gateway.Line, StringComparison.Ordinal);
    }

    // The same over Istio's mTLS: ALPN [istio-peer-exchange, istio, h2] from the sidecar (util.ALPNInMeshH2WithMxc for
    // an HTTP/2 cluster), h2 and http/1.1 at the gateway's server (util.ALPNHttp): h2 is negotiated.
    [Fact]
    public async Task IstioMutualOnTheHttp2PortNegotiatesH2AndTheGatewayLogsHttp2()
    {
        await using var mesh = await ConformanceMesh.StartAsync(MutualYaml, new External(Cnn));

        var reply = await mesh.GetAsync($"http://{Cnn}/politics");

        Assert.True(reply.Status == 200, string.Join("\n", mesh.Logs));
        var gateway = mesh.LastAccessLog("gateway");
        Assert.StartsWith("[gateway] \"GET /politics HTTP/2\" 200 ", gateway.Line, StringComparison.Ordinal);
        var hop = mesh.DumpedCluster("sidecar", $"outbound|80|cnn|{ConformanceMesh.EgressGatewayService}");
        Assert.Equal(Cnn, hop.GetProperty("transport_socket").GetProperty("typed_config").GetProperty("sni").GetString());
        Assert.Contains($"cluster=outbound|80||{Cnn} ", gateway.Line, StringComparison.Ordinal);
    }
}
