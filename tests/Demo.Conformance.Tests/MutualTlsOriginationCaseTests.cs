using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Demo.Conformance.Tests;

/// <summary>
/// Istio's mutual TLS origination at the egress gateway (tests/integration/security/egress_gateway_origination_test.go
/// TestMutualTlsOrigination; filebased_tls_origination TestEgressGatewayTls "Mutual TLS origination from egress gateway to
/// https endpoint"): the external server asks for a client certificate from its CA. A credentialName's Secret stands
/// here as a folder of its keys (EgressGateway:Credentials:&lt;name&gt;), generic (<c>cert</c>, <c>key</c>,
/// <c>cacert</c>) or kubernetes.io/tls (<c>tls.crt</c>, <c>tls.key</c>, <c>ca.crt</c>). istiod
/// (authentication.go ApplyCustomSDSToClientCommonTLSContext) gives the cluster SDS <c>kubernetes://&lt;name&gt;</c> for
/// the certificate and <c>kubernetes://&lt;name&gt;-cacert</c> for the CA; a Secret without certificate and key, or none,
/// leaves Envoy's transport socket not ready: 503.
/// </summary>
public sealed class MutualTlsOriginationCaseTests
{
    private const string Server = TlsOriginationCaseTests.Host;
    private const string Url = TlsOriginationCaseTests.Url;

    private static readonly Lazy<Secrets> Issued = new(Secrets.Create);

    private static string MutualTls(string settings) => $"""
                  mode: MUTUAL
                  sni: {Server}
        {settings}
        """;

    private static Task<ConformanceMesh> StartAsync(string tls) =>
        ConformanceMesh.StartAsync(TlsOriginationCaseTests.ViaEgressGateway(tls), Issued.Value.Settings, new External(Server, Tls: true) { ClientCa = TestCa.Certificate });

    // "generic" and "non-generic": the client certificate the server's CA issued, from either kind of Secret → 200.
    [Theory]
    [InlineData("generic-credential")]
    [InlineData("tls-credential")]
    public async Task CredentialNameWithAClientCertificateOfTheServersCaGets200(string credential)
    {
        await using var mesh = await StartAsync(MutualTls($"          credentialName: {credential}"));

        var reply = await mesh.GetAsync(Url);

        Assert.Equal(200, reply.Status);
        Assert.True(reply.Received.Tls);
        Assert.Equal(["true"], reply.Received.Header("handled-by-egress-gateway"));
        var common = mesh.DumpedCluster("gateway", $"outbound|443||{Server}").GetProperty("transport_socket").GetProperty("typed_config")
            .GetProperty("common_tls_context");
        Assert.Equal($"kubernetes://{credential}", common.GetProperty("tls_certificate_sds_secret_configs")[0].GetProperty("name").GetString());
        // istio.io egress-gateway-tls-origination(-sds) mtls_test.sh: the gateway's log has "GET / HTTP/1.1" (the hop is
        // the gateway Service's https port, HTTP/1.1 inside Istio's mTLS).
        var gateway = mesh.LastAccessLog("gateway").Line;
        Assert.Contains("\"GET / HTTP/1.1\" 200 ", gateway, StringComparison.Ordinal);
        Assert.Contains($" cluster=outbound|443||{Server} ", gateway, StringComparison.Ordinal);
    }

    // "invalid client cert": a certificate of another CA — the server refuses the handshake → 503, nothing answered.
    // "missing": no Secret → 503 UF. "no client certs": a Secret with the CA only (the CA-only credential) → 503 UF.
    // A key that is not the certificate's: Envoy cannot load the secret ("Failed to load private key"), so its
    // transport socket is never ready → 503 UF, as without one.
    [Theory]
    [InlineData("fake-credential", "")]
    [InlineData("missing-credential", "UF")]
    [InlineData("ca-only-credential", "UF")]
    [InlineData("mismatched-credential", "UF")]
    public async Task CredentialNameWithoutAClientCertificateTheServerAcceptsGets503(string credential, string flag)
    {
        await using var mesh = await StartAsync(MutualTls($"          credentialName: {credential}"));

        var reply = await mesh.GetAsync(Url);

        Assert.Equal(503, reply.Status);
        Assert.Equal(0, mesh.Echo(Server).Count);
        Assert.Contains(flag, mesh.LastAccessLog("gateway").Flags, StringComparison.Ordinal);
    }

    // TestEgressGatewayTls "Mutual TLS origination from egress gateway to https endpoint": the rule names the files.
    [Fact]
    public async Task ClientCertificateFilesOfTheRuleGet200()
    {
        var files = Issued.Value;
        await using var mesh = await StartAsync(MutualTls($"""
                      clientCertificate: {files.ClientCertificate}
                      privateKey: {files.ClientKey}
                      caCertificates: {TestCa.RootCertPath}
            """));

        Assert.Equal(200, (await mesh.GetAsync(Url)).Status);
    }

    /// <summary>A client certificate and key (PEM files) the echo's CA issued.</summary>
    internal static (string Certificate, string Key) ClientFiles() => (Issued.Value.ClientCertificate, Issued.Value.ClientKey);

    /// <summary>A client certificate and key (PEM files) another CA issued: the echo refuses them.</summary>
    internal static (string Certificate, string Key) FakeClientFiles()
    {
        var folder = Issued.Value.Settings["EgressGateway:Credentials:fake-credential"]!;
        return (Path.Combine(folder, "cert"), Path.Combine(folder, "key"));
    }

    // agent/validation.go ValidateTLS.
    [Theory]
    [InlineData("          caCertificates: /etc/ca.pem", "client certificate required for mutual tls")]
    [InlineData("          credentialName: c\n          clientCertificate: /etc/c.pem", "cannot specify client certificates or CA certificate or CA CRL If credentialName is set")]
    public async Task MutualWithoutItsCertificatesIsRefusedAsIstioRefusesIt(string settings, string message)
    {
        var refusal = await ConformanceMesh.RefusalAsync(TlsOriginationCaseTests.ViaEgressGateway(MutualTls(settings)));

        Assert.Contains(message, refusal, StringComparison.Ordinal);
    }

    /// <summary>The Secrets of the cases, as folders of their keys, and the settings naming them.</summary>
    private sealed record Secrets(Dictionary<string, string?> Settings, string ClientCertificate, string ClientKey)
    {
        public static Secrets Create()
        {
            var root = Directory.CreateTempSubdirectory("demo-mtls-secrets").FullName;
            var (cert, key) = Issue(TestCa.Certificate, "client.example.com");
            var (fakeCert, fakeKey) = Issue(TestCa.FakeCertificate, "client.example.com");
            string Folder(string name, params (string Key, string Value)[] data)
            {
                var folder = Directory.CreateDirectory(Path.Combine(root, name)).FullName;
                foreach (var (file, value) in data)
                {
                    File.WriteAllText(Path.Combine(folder, file), value);
                }
                return folder;
            }
            var ca = File.ReadAllText(TestCa.RootCertPath);
            var settings = new Dictionary<string, string?>
            {
                ["EgressGateway:Credentials:generic-credential"] = Folder("generic", ("cert", cert), ("key", key), ("cacert", ca)),
                ["EgressGateway:Credentials:tls-credential"] = Folder("tls", ("tls.crt", cert), ("tls.key", key), ("ca.crt", ca)),
                ["EgressGateway:Credentials:fake-credential"] = Folder("fake", ("cert", fakeCert), ("key", fakeKey), ("cacert", ca)),
                ["EgressGateway:Credentials:ca-only-credential"] = Folder("ca-only", ("ca.crt", ca)),
                ["EgressGateway:Credentials:mismatched-credential"] = Folder("mismatched", ("tls.crt", cert), ("tls.key", fakeKey), ("ca.crt", ca)),
            };
            var certFile = Path.Combine(root, "client.crt.pem");
            var keyFile = Path.Combine(root, "client.key.pem");
            File.WriteAllText(certFile, cert);
            File.WriteAllText(keyFile, key);
            return new Secrets(settings, certFile, keyFile);
        }

        // A client certificate (EKU clientAuth) the issuer signs, as PEM certificate and PKCS#8 key.
        private static (string Certificate, string Key) Issue(X509Certificate2 issuer, string name)
        {
            using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
            var request = new CertificateRequest($"CN={name}", key, HashAlgorithmName.SHA256);
            request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
            request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.2")], false));
            var serial = RandomNumberGenerator.GetBytes(16);
            serial[0] &= 0x7f;
            using var certificate = request.Create(issuer, DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddDays(1), serial);
            return (certificate.ExportCertificatePem(), key.ExportPkcs8PrivateKeyPem());
        }
    }
}

/// <summary>
/// Istio's TestDestinationRuleTls (tests/integration/security/filebased_tls_origination/destination_rule_tls_test.go):
/// the sidecar originates MUTUAL TLS with the files its DestinationRule names (clientCertificate, privateKey,
/// caCertificates) to a server that asks for a client certificate; its "http" port (gRPC and TCP ports are not modelled).
/// </summary>
public sealed class SidecarMutualTlsFilesCaseTests
{
    [Fact]
    public async Task SidecarOriginatesMutualTlsWithTheRulesFiles()
    {
        const string server = "server.external";
        var (certificate, key) = MutualTlsOriginationCaseTests.ClientFiles();
        var yaml = MeshYaml.Join(MeshYaml.ServiceEntry(server), $"""
            apiVersion: networking.istio.io/v1
            kind: DestinationRule
            metadata:
              name: db-mtls
            spec:
              host: {server}
              trafficPolicy:
                tls:
                  mode: MUTUAL
                  clientCertificate: {certificate}
                  privateKey: {key}
                  caCertificates: {TestCa.RootCertPath}
                  sni: {server}
            """);
        await using var mesh = await ConformanceMesh.StartAsync(yaml, new External(server, Tls: true) { ClientCa = TestCa.Certificate });

        var reply = await mesh.GetAsync($"http://{server}/");

        Assert.Equal(200, reply.Status);
        Assert.True(reply.Received.Tls);
    }

    // The proxy's agent watches a DestinationRule's certificate files and serves what they hold now to new connections
    // (security/pkg/nodeagent/cache/secretcache.go: file certificates are watched and re-pushed on change). One request
    // per connection (maxRequestsPerConnection: 1): a certificate of another CA written over the files is refused by the
    // server on the next request; the good one written back is accepted again — no reload of the configuration.
    [Fact]
    public async Task RotatedCertificateFilesAreOfferedOnTheNextConnection()
    {
        const string server = "rotating.external";
        var folder = Directory.CreateTempSubdirectory("demo-rotation-");
        try
        {
            var (good, goodKey) = MutualTlsOriginationCaseTests.ClientFiles();
            var (fake, fakeKey) = MutualTlsOriginationCaseTests.FakeClientFiles();
            var certificate = Path.Combine(folder.FullName, "cert.pem");
            var key = Path.Combine(folder.FullName, "key.pem");
            var stamp = DateTime.UtcNow;
            void Install(string fromCertificate, string fromKey)
            {
                stamp = stamp.AddSeconds(2);
                File.Copy(fromCertificate, certificate, overwrite: true);
                File.Copy(fromKey, key, overwrite: true);
                File.SetLastWriteTimeUtc(certificate, stamp);
                File.SetLastWriteTimeUtc(key, stamp);
            }
            Install(good, goodKey);
            var yaml = MeshYaml.Join(MeshYaml.ServiceEntry(server), $"""
                apiVersion: networking.istio.io/v1
                kind: DestinationRule
                metadata:
                  name: rotating
                spec:
                  host: {server}
                  trafficPolicy:
                    connectionPool:
                      http:
                        maxRequestsPerConnection: 1
                    tls:
                      mode: MUTUAL
                      clientCertificate: {certificate}
                      privateKey: {key}
                      caCertificates: {TestCa.RootCertPath}
                      sni: {server}
                """);
            await using var mesh = await ConformanceMesh.StartAsync(yaml, new External(server, Tls: true) { ClientCa = TestCa.Certificate });

            Assert.Equal(200, (await mesh.GetAsync($"http://{server}/")).Status);
            Install(fake, fakeKey);
            Assert.Equal(503, (await mesh.GetAsync($"http://{server}/")).Status);
            Install(good, goodKey);
            Assert.Equal(200, (await mesh.GetAsync($"http://{server}/")).Status);
        }
        finally
        {
            folder.Delete(recursive: true);
        }
    }
}
