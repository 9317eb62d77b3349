using static Demo.Conformance.Tests.MeshYaml;

namespace Demo.Conformance.Tests;

/// <summary>
/// Istio's TLS-origination cases: the egress gateway originating TLS from a DestinationRule
/// (tests/integration/security/filebased_tls_origination/egress_gateway_origination_test.go, TestEgressGatewayTls)
/// and the sidecar originating it (tests/integration/pilot/common/routing.go, tlsOriginationCases). The external
/// service is an echo upstream on HTTPS with a certificate from the test CA (Istio's root-cert.pem); the "fake root"
/// is another CA.
/// </summary>
public sealed class TlsOriginationCaseTests
{
    private const string Host = "external-service.external";
    private const string Url = "http://external-service.external";

    // Istio's createGateway: the sidecar sends port-80 HTTP to the egress gateway (subset "server", ISTIO_MUTUAL with
    // the external host as SNI); the gateway routes it to the external host's 443 and adds handled-by-egress-gateway.
    private static string ViaEgressGateway(string tls) => Join(
        ServiceEntry(Host, (80, "HTTP"), (443, "HTTPS")),
        EgressGatewayResource("istio-egressgateway-filebased", Host),
        $"""
        apiVersion: networking.istio.io/v1
        kind: DestinationRule
        metadata:
          name: egressgateway-for-server-filebased
        spec:
          host: {ConformanceMesh.EgressGatewayService}
          subsets:
            - name: server
              trafficPolicy:
                portLevelSettings:
                  - port:
                      number: 443
                    tls:
                      mode: ISTIO_MUTUAL
                      sni: {Host}
        """,
        $"""
        apiVersion: networking.istio.io/v1
        kind: VirtualService
        metadata:
          name: route-via-egressgateway-filebased
        spec:
          hosts:
            - {Host}
          gateways:
            - istio-egressgateway-filebased
            - mesh
          http:
            - match:
                - gateways:
                    - mesh
                  port: 80
              route:
                - destination:
                    host: {ConformanceMesh.EgressGatewayService}
                    subset: server
                    port:
                      number: 443
                  weight: 100
            - match:
                - gateways:
                    - istio-egressgateway-filebased
                  port: 443
              route:
                - destination:
                    host: {Host}
                    port:
                      number: 443
                  weight: 100
              headers:
                request:
                  add:
                    handled-by-egress-gateway: "true"
        """,
        $"""
        apiVersion: networking.istio.io/v1
        kind: DestinationRule
        metadata:
          name: originate-tls-for-server-filebased
        spec:
          host: {Host}
          trafficPolicy:
            portLevelSettings:
              - port:
                  number: 443
                tls:
        {tls}
        """);

    private static string SimpleTls(string rootCertPath) => $"""
                  mode: SIMPLE
                  caCertificates: {rootCertPath}
                  sni: {Host}
        """;

    // Istio TestEgressGatewayTls "SIMPLE TLS origination from egress gateway to https endpoint": 200, and the request
    // went through the egress gateway (its route added handled-by-egress-gateway) over TLS with the DR's SNI.
    [Fact]
    public async Task EgressGatewayOriginatesSimpleTls()
    {
        await using var mesh = await ConformanceMesh.StartAsync(ViaEgressGateway(SimpleTls(TestCa.RootCertPath)),
            new External(Host, Tls: true));

        var reply = await mesh.GetAsync(Url);

        Assert.Equal(200, reply.Status);
        Assert.Equal(["true"], reply.Received.Header("handled-by-egress-gateway"));
        Assert.True(reply.Received.Tls);
        Assert.Equal(Host, reply.Received.Sni);
        Assert.Equal(Host, reply.Received.Host);
    }

    // Istio TestEgressGatewayTls "SIMPLE TLS origination from egress gateway to https endpoint with fake root cert":
    // the server certificate cannot be verified with the DR's caCertificates — 503, the request never reaches it.
    [Fact]
    public async Task EgressGatewayRefusesServerCertificateNotIssuedByCaCertificates()
    {
        await using var mesh = await ConformanceMesh.StartAsync(ViaEgressGateway(SimpleTls(TestCa.FakeRootCertPath)),
            new External(Host, Tls: true));

        var reply = await mesh.GetAsync(Url);

        Assert.Equal(503, reply.Status);
        Assert.Equal(0, mesh.Echo(Host).Count);
    }

    // Istio TestEgressGatewayTls "No TLS origination from egress gateway to https endpoint": with mode DISABLE the
    // gateway speaks plain HTTP to the TLS port, and the server's own 400 comes back.
    [Fact]
    public async Task EgressGatewayWithTlsDisabledGetsTheServers400()
    {
        await using var mesh = await ConformanceMesh.StartAsync(ViaEgressGateway($"""
                      mode: DISABLE
                      sni: {Host}
            """), new External(Host, Tls: true));

        var reply = await mesh.GetAsync(Url);

        Assert.Equal(400, reply.Status);
    }

    private static string SidecarOrigination(string host) => Join(
        ServiceEntry(host, (8888, "HTTP"), (8882, "HTTP2")),
        $"""
        apiVersion: networking.istio.io/v1
        kind: DestinationRule
        metadata:
          name: external
        spec:
          host: {host}
          trafficPolicy:
            tls:
              mode: SIMPLE
              insecureSkipVerify: true
        """);

    // Istio tlsOriginationCases "DNS", child "<cluster>: http/1.1": the sidecar originates TLS (insecureSkipVerify)
    // for an HTTP port of a DNS ServiceEntry and speaks HTTP/1.1 over it.
    [Fact]
    public async Task SidecarOriginatesTlsForHttpPortWithHttp11()
    {
        const string external = "external.external";
        await using var mesh = await ConformanceMesh.StartAsync(SidecarOrigination(external), new External(external, Tls: true));

        var reply = await mesh.GetAsync($"http://{external}:8888/");

        Assert.Equal(200, reply.Status);
        Assert.True(reply.Received.Tls);
        Assert.Equal("HTTP/1.1", reply.Received.Protocol);
    }

    // Istio tlsOriginationCases "DNS", child "<cluster>: h2": for a port declared HTTP2, Envoy's cluster speaks
    // HTTP/2 upstream (ALPN h2) after originating TLS.
    [Fact]
    public async Task SidecarOriginatesTlsForHttp2PortWithH2()
    {
        const string external = "external.external";
        await using var mesh = await ConformanceMesh.StartAsync(SidecarOrigination(external), new External(external, Tls: true));

        var reply = await mesh.GetAsync($"http://{external}:8882/");

        Assert.True(200 == reply.Status, string.Join("\n", mesh.Logs));
        Assert.True(reply.Received.Tls);
        Assert.Equal("HTTP/2", reply.Received.Protocol);
    }
}
