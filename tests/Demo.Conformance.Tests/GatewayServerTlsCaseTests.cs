using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using static Demo.Conformance.Tests.MeshYaml;

namespace Demo.Conformance.Tests;

/// <summary>
/// A Gateway server's own TLS (listener.go BuildListenerTLSContext): SIMPLE with a <c>credentialName</c> serves the
/// Secret's certificate (SDS <c>kubernetes://&lt;name&gt;</c>; locally a folder of EgressGateway:Credentials), which the
/// sidecar's DestinationRule (SIMPLE, <c>caCertificates</c>) verifies on the hop; a Secret nothing supplies fails every
/// handshake, as Envoy's not-ready secret does; istiod's webhook refuses credentials on ISTIO_MUTUAL and a MUTUAL
/// server without a client CA (validation.go validateTLSOptions).
/// </summary>
public sealed class GatewayServerTlsCaseTests
{
    private const string Cnn = "edition.cnn.com";

    private static string Layout(string credentialName) => Join(
        ServiceEntry(Cnn, (80, "HTTP")),
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
                name: https
                protocol: HTTPS
              hosts:
                - {Cnn}
              tls:
                mode: SIMPLE
                credentialName: {credentialName}
        ---
        apiVersion: networking.istio.io/v1
        kind: DestinationRule
        metadata:
          name: egressgateway-for-cnn
        spec:
          host: {ConformanceMesh.EgressGatewayService}
          subsets:
            - name: cnn
              trafficPolicy:
                tls:
                  mode: SIMPLE
                  sni: {Cnn}
                  caCertificates: {TestCa.RootCertPath}
        ---
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
          http:
            - match:
                - gateways:
                    - mesh
                  port: 80
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
              route:
                - destination:
                    host: {Cnn}
                    port:
                      number: 80
        """);

    [Fact]
    public async Task ASimpleServerServesItsCredentialsCertificateToTheSidecar()
    {
        var folder = Directory.CreateTempSubdirectory("gateway-credential-");
        try
        {
            using var served = EchoUpstream.Issue(TestCa.Certificate, Cnn);
            File.WriteAllText(Path.Combine(folder.FullName, "tls.crt"), served.ExportCertificatePem());
            File.WriteAllText(Path.Combine(folder.FullName, "tls.key"),
                ((AsymmetricAlgorithm?)served.GetRSAPrivateKey() ?? served.GetECDsaPrivateKey()!).ExportPkcs8PrivateKeyPem());
            await using var mesh = await ConformanceMesh.StartAsync(Layout("gateway-cnn"),
                new Dictionary<string, string?> { ["EgressGateway:Credentials:gateway-cnn"] = folder.FullName }, new External(Cnn));

            var reply = await mesh.GetAsync($"http://{Cnn}/politics");

            Assert.Equal(200, reply.Status);
            Assert.Equal("/politics", reply.Received.Url);
            var tls = mesh.DumpedListener("gateway", "0.0.0.0_443").GetProperty("filter_chains")[0].GetProperty("transport_socket").GetProperty("typed_config");
            Assert.Equal("kubernetes://gateway-cnn", tls.GetProperty("common_tls_context").GetProperty("tls_certificate_sds_secret_configs")[0].GetProperty("name").GetString());
            Assert.False(tls.GetProperty("require_client_certificate").GetBoolean());
        }
        finally
        {
            folder.Delete(recursive: true);
        }
    }

    [Fact]
    public async Task ACredentialNothingSuppliesFailsEveryHandshake()
    {
        await using var mesh = await ConformanceMesh.StartAsync(Layout("not-there"), new External(Cnn));

        var reply = await mesh.GetAsync($"http://{Cnn}/politics");

        Assert.Equal(503, reply.Status);
        Assert.Contains(mesh.Logs, l => l.Contains("Secret is not supplied by SDS: kubernetes://not-there", StringComparison.Ordinal));
        Assert.Equal(0, mesh.Echo(Cnn).Count);
    }

    [Fact]
    public async Task CredentialsOnIstioMutualAndAMutualServerWithoutClientCaAreRefused()
    {
        var refusal = await ConformanceMesh.RefusalAsync($"""
            apiVersion: networking.istio.io/v1
            kind: Gateway
            metadata:
              name: bad
            spec:
              selector:
                istio: egressgateway
              servers:
                - port:
                    number: 443
                    name: https
                    protocol: HTTPS
                  hosts:
                    - {Cnn}
                  tls:
                    mode: ISTIO_MUTUAL
                    credentialName: cnn
                - port:
                    number: 8443
                    name: https-mutual
                    protocol: HTTPS
                  hosts:
                    - {Cnn}
                  tls:
                    mode: MUTUAL
                    serverCertificate: /etc/certs/cert.pem
                    privateKey: /etc/certs/key.pem
            """);

        Assert.Contains("spec.servers[0].tls.credentialName: ISTIO_MUTUAL TLS cannot have associated credentialName", refusal, StringComparison.Ordinal);
        Assert.Contains("spec.servers[1].tls.caCertificates: MUTUAL TLS requires a client CA bundle", refusal, StringComparison.Ordinal);
    }
}
