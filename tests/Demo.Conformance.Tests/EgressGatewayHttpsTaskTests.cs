using static Demo.Conformance.Tests.MeshYaml;

namespace Demo.Conformance.Tests;

/// <summary>
/// istio.io's egress-gateway task, "Egress gateway for HTTPS traffic" (content/en/docs/tasks/traffic-management/egress/
/// egress-gateway): the app's own TLS to edition.cnn.com goes through the egress gateway untouched — a ServiceEntry on
/// port 443 TLS, a Gateway server <c>port 443, protocol TLS, tls.mode PASSTHROUGH</c>, a DestinationRule subset for the
/// gateway, and one VirtualService whose <c>tls</c> routes send the mesh's SNI edition.cnn.com to the gateway's subset
/// and the gateway's to edition.cnn.com:443. The sidecar's TCP proxy picks the chain by SNI (tcp.go), the gateway's
/// listener its PASSTHROUGH chain by the same SNI (gateway.go buildGatewayNetworkFiltersFromTLSRoutes); the task checks
/// the gateway's log for <c>outbound|443||edition.cnn.com</c>.
/// </summary>
public sealed class EgressGatewayHttpsTaskTests
{
    private const string Cnn = "edition.cnn.com";

    private static readonly string Yaml = Join(
        ServiceEntry(Cnn, (443, "TLS")),
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
                number: 443
                name: tls
                protocol: TLS
              hosts:
                - {Cnn}
              tls:
                mode: PASSTHROUGH
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
            - mesh
            - istio-egressgateway
          tls:
            - match:
                - gateways:
                    - mesh
                  port: 443
                  sniHosts:
                    - {Cnn}
              route:
                - destination:
                    host: {ConformanceMesh.EgressGatewayService}
                    subset: cnn
                    port:
                      number: 443
            - match:
                - gateways:
                    - istio-egressgateway
                  port: 443
                  sniHosts:
                    - {Cnn}
              route:
                - destination:
                    host: {Cnn}
                    port:
                      number: 443
                  weight: 100
        """);

    [Fact]
    public async Task TheAppsTlsPassesThroughTheGatewaysPassthroughServerToTheHost()
    {
        await using var mesh = await ConformanceMesh.StartAsync(Yaml, new External(Cnn, Tls: true));

        var echo = await AppHttps.GetAsync(mesh, $"https://{Cnn}/politics");

        Assert.Equal("/politics", echo.Url);
        Assert.Equal(Cnn, echo.Sni);
        var sidecar = await AppHttps.TcpLineAsync(mesh, $"cluster=outbound|443|cnn|{ConformanceMesh.EgressGatewayService} ");
        Assert.Contains($"sni={Cnn} ", sidecar, StringComparison.Ordinal);
        var gateway = await AppHttps.TcpLineAsync(mesh, $"cluster=outbound|443||{Cnn} ", stage: "gateway");
        Assert.Contains($"sni={Cnn} ", gateway, StringComparison.Ordinal);
        var chain = mesh.DumpedListener("gateway", "0.0.0.0_443").GetProperty("filter_chains")[0];
        Assert.Equal(Cnn, chain.GetProperty("filter_chain_match").GetProperty("server_names")[0].GetString());
        Assert.False(chain.TryGetProperty("transport_socket", out _));
        Assert.Equal($"outbound|443||{Cnn}", chain.GetProperty("filters")[0].GetProperty("typed_config").GetProperty("cluster").GetString());
    }

    // gateway.go: a PASSTHROUGH server has only the chains its tls routes give; an SNI none names finds no chain (NR).
    [Fact]
    public async Task AnSniTheGatewaysTlsRoutesDoNotNameFindsNoChain()
    {
        await using var mesh = await ConformanceMesh.StartAsync(Join(Yaml, ServiceEntry("other.example.com", (443, "TLS")), $"""
            apiVersion: networking.istio.io/v1
            kind: VirtualService
            metadata:
              name: other-through-egress-gateway
            spec:
              hosts:
                - other.example.com
              tls:
                - match:
                    - port: 443
                      sniHosts:
                        - other.example.com
                  route:
                    - destination:
                        host: {ConformanceMesh.EgressGatewayService}
                        subset: cnn
                        port:
                          number: 443
            """), new External(Cnn, Tls: true), new External("other.example.com", Tls: true));

        await Assert.ThrowsAsync<HttpRequestException>(() => AppHttps.GetAsync(mesh, "https://other.example.com/"));

        Assert.Contains(mesh.Logs, l => l.Contains("details=filter_chain_not_found sni=other.example.com port=443", StringComparison.Ordinal));
        Assert.Equal(0, mesh.Echo("other.example.com").Count);
    }

    // validation.go validateTLSMatch / validateSniHost, as Istio words them (an empty sniHosts list passes the CRD
    // schema, which requires the field, and reaches the webhook).
    [Fact]
    public async Task ATlsRouteWithoutSniHostsOrWithAForeignOneIsRefused()
    {
        // A VirtualService whose first tls route matches on port 443 with the given sniHosts line (none: no sniHosts).
        static string Routes(string sniHosts) => Join(ServiceEntry(Cnn, (443, "TLS")), $"""
            apiVersion: networking.istio.io/v1
            kind: VirtualService
            metadata:
              name: bad
            spec:
              hosts:
                - {Cnn}
              tls:
                - match:
                    - port: 443
                      {sniHosts}
                  route:
                    - destination:
                        host: {Cnn}
                - match:
                    - sniHosts:
                        - www.example.com
                  route:
                    - destination:
                        host: {Cnn}
            """);

        var refusal = await ConformanceMesh.RefusalAsync(Routes("sniHosts: []"));

        Assert.Contains("spec.tls[0].match[0].sniHosts: TLS match must have at least one SNI host", refusal, StringComparison.Ordinal);
        Assert.Contains($"SNI host \"www.example.com\" is not a compatible subset of any of the virtual service hosts: [{Cnn}]", refusal, StringComparison.Ordinal);

        // A match without sniHosts at all is the CRD schema's refusal (TLSMatchAttributes requires sniHosts), before the webhook.
        Assert.Contains("spec.tls[0].match[0].sniHosts: is required", await ConformanceMesh.RefusalAsync(Routes("")), StringComparison.Ordinal);
    }
}
