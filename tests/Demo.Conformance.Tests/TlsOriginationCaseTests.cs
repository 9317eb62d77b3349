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
    internal const string Host = "external-service.external";
    internal const string Url = "http://external-service.external";

    // Istio's createGateway: the sidecar sends port-80 HTTP to the egress gateway (subset "server", ISTIO_MUTUAL with
    // the external host as SNI); the gateway routes it to the external host's 443 and adds handled-by-egress-gateway.
    internal static string ViaEgressGateway(string tls) => Join(
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

    // Istio TestSimpleTlsOrigination (tests/integration/security/egress_gateway_origination_test.go): the same route
    // through the egress gateway, its DestinationRule naming the CA by credentialName. Istio creates the Secrets
    // "tls-credential-cacert" (root-cert.pem) and "fake-tls-credential-cacert" (fake-root-cert.pem); locally
    // EgressGateway:Credentials stands for them. istiod asks for "<credentialName>-cacert" (security/model
    // authentication.go ApplyCustomSDSToClientCommonTLSContext), which finds the first under credentialName
    // "tls-credential" (the test trims "-cacert" from its name).
    private static readonly Dictionary<string, string?> IstioSecrets = new()
    {
        ["EgressGateway:Credentials:tls-credential-cacert"] = TestCa.RootCertPath,
        ["EgressGateway:Credentials:fake-tls-credential-cacert"] = TestCa.FakeRootCertPath,
    };

    private static string CredentialTls(string credentialName) => $"""
                  mode: SIMPLE
                  credentialName: {credentialName}
                  sni: {Host}
        """;

    private static Task<ConformanceMesh> StartWithCredentialAsync(string credentialName) =>
        ConformanceMesh.StartAsync(ViaEgressGateway(CredentialTls(credentialName)), IstioSecrets, new External(Host, Tls: true));

    // TestSimpleTlsOrigination "simple": credentialName "tls-credential" (the CA that issued the server's certificate)
    // → 200, handled by the egress gateway. The gateway's cluster validates with the SDS secret istiod names
    // kubernetes://tls-credential-cacert (credentials/resource.go ToResourceName).
    [Fact]
    public async Task EgressGatewayOriginatesTlsWithTheCaOfItsCredentialName()
    {
        await using var mesh = await StartWithCredentialAsync("tls-credential");

        var reply = await mesh.GetAsync(Url);

        Assert.Equal(200, reply.Status);
        Assert.Equal(["true"], reply.Received.Header("handled-by-egress-gateway"));
        Assert.True(reply.Received.Tls);
        Assert.Equal(Host, reply.Received.Sni);
        var validation = mesh.DumpedCluster("gateway", $"outbound|443||{Host}").GetProperty("transport_socket").GetProperty("typed_config")
            .GetProperty("common_tls_context").GetProperty("combined_validation_context");
        Assert.Equal("kubernetes://tls-credential-cacert", validation.GetProperty("validation_context_sds_secret_config").GetProperty("name").GetString());
        // istio.io egress-gateway-tls-origination-sds tls_test.sh: the gateway's log has "GET / HTTP/1.1".
        var gateway = mesh.LastAccessLog("gateway").Line;
        Assert.Contains("\"GET / HTTP/1.1\" 200 ", gateway, StringComparison.Ordinal);
        Assert.Contains($" cluster=outbound|443||{Host} ", gateway, StringComparison.Ordinal);
    }

    // TestSimpleTlsOrigination "fake root": credentialName "fake-tls-credential", a CA that did not issue the server's
    // certificate → 503. Envoy: a failed handshake is an upstream connection failure (flag UF); nothing is sent.
    [Fact]
    public async Task EgressGatewayRefusesServerCertificateNotIssuedByItsCredentialsCa()
    {
        await using var mesh = await StartWithCredentialAsync("fake-tls-credential");

        var reply = await mesh.GetAsync(Url);

        Assert.Equal(503, reply.Status);
        Assert.Equal(0, mesh.Echo(Host).Count);
        Assert.Contains("UF", mesh.LastAccessLog("gateway").Flags, StringComparison.Ordinal);
    }

    // TestSimpleTlsOrigination "missing secret": credentialName "tls-credential-not-created-cacert", whose Secret does
    // not exist → 503 ("Secret fetching error at Gateway, results in a 503 response"). istiod sends no secret
    // (xds/sds.go generate: "failed to fetch ca certificate"), so Envoy's transport socket is NotReadySslSocket: every
    // connection fails with "TLS error: Secret is not supplied by SDS" (envoy ssl_socket.cc), flag UF. The local
    // gateway starts (as the cluster does), warning about the Secret nothing stands for.
    [Fact]
    public async Task EgressGatewayWithoutTheCredentialsSecretAnswers503UF()
    {
        await using var mesh = await StartWithCredentialAsync("tls-credential-not-created-cacert");

        var reply = await mesh.GetAsync(Url);

        Assert.Equal(503, reply.Status);
        Assert.Contains("TLS error: Secret is not supplied by SDS", reply.Body, StringComparison.Ordinal);
        Assert.Equal(0, mesh.Echo(Host).Count);
        Assert.Contains("UF", mesh.LastAccessLog("gateway").Flags, StringComparison.Ordinal);
        Assert.Contains(mesh.Logs, l => l.Contains("credentialName", StringComparison.Ordinal)
            && l.Contains("EgressGateway:Credentials:tls-credential-not-created-cacert", StringComparison.Ordinal));
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
