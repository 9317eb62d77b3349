namespace Demo.Conformance.Tests;

/// <summary>
/// Istio's TestSidecarMutualTlsOrigination (tests/integration/security/egress_sidecar_tls_origination_test.go): the
/// sidecar originates MUTUAL TLS with a credentialName, from a DestinationRule of the client's namespace whose
/// workloadSelector picks the client (<c>app: a</c>, <c>b</c>, <c>c</c>), port 80 of the ServiceEntry to the server's
/// 443 (targetPort), the server asking for a client certificate. The Secrets are in the client's namespace
/// (<c>EgressGateway:Credentials:demo/&lt;name&gt;</c>); <c>authorizeSidecar</c>'s Role and RoleBinding (list secrets)
/// are <c>EgressGateway:WorkloadCanListSecrets</c>. Istio's test asserts the status only (200, or 503).
/// </summary>
public sealed class SidecarMutualTlsOriginationCaseTests
{
    private const string Server = TlsOriginationCaseTests.Host;
    private const string Namespace = "demo";
    private const string Generic = "mtls-credential-generic";
    private const string Fake = "fake-mtls-credential";

    private static readonly Lazy<Dictionary<string, string?>> Secrets = new(CreateSecrets);

    // newTLSSidecarDestinationRule: the ServiceEntry and the rule, applied in the client's namespace.
    private static string Yaml(string selector, string credential, bool withSelector = true) => MeshYaml.Join($"""
        apiVersion: networking.istio.io/v1
        kind: ServiceEntry
        metadata:
          name: originate-mtls-for-nginx
          namespace: {Namespace}
        spec:
          hosts:
          - "{Server}"
          ports:
          - number: 80
            name: http-port
            protocol: HTTP
            targetPort: 443
          - number: 443
            name: https-port
            protocol: HTTPS
          resolution: DNS
        """, $"""
        apiVersion: networking.istio.io/v1
        kind: DestinationRule
        metadata:
          name: originate-tls-for-server-sds-{selector}
          namespace: {Namespace}
        spec:
        {(withSelector ? $"  workloadSelector:\n    matchLabels:\n      app: {selector}\n" : "")}  exportTo:
            - .
          host: "{Server}"
          trafficPolicy:
            portLevelSettings:
              - port:
                  number: 80
                tls:
                  mode: MUTUAL
                  credentialName: {credential}
                  sni: {Server}
        """);

    private static Task<ConformanceMesh> StartAsync(string app, string yaml, bool authorized, string? credentialsNamespace = Namespace)
    {
        var settings = new Dictionary<string, string?>
        {
            ["EgressGateway:WorkloadNamespace"] = Namespace,
            ["EgressGateway:WorkloadLabels:app"] = app,
            ["EgressGateway:WorkloadCanListSecrets"] = authorized ? "true" : "false",
        };
        foreach (var (name, folder) in Secrets.Value)
        {
            settings[$"EgressGateway:Credentials:{(credentialsNamespace is null ? "" : credentialsNamespace + "/")}{name}"] = folder;
        }
        return ConformanceMesh.StartAsync(yaml, settings, new External(Server, Tls: true) { ClientCa = TestCa.Certificate });
    }

    // "authorized sidecar": a's service account may list the Secrets of its namespace → 200, over TLS with the Secret's
    // client certificate (SDS kubernetes://mtls-credential-generic on the sidecar's cluster).
    [Fact]
    public async Task AuthorizedSidecarGets200()
    {
        await using var mesh = await StartAsync("a", Yaml("a", Generic), authorized: true);

        var reply = await mesh.GetAsync($"http://{Server}/");

        Assert.Equal(200, reply.Status);
        Assert.True(reply.Received.Tls);
        var common = mesh.DumpedCluster("sidecar", $"outbound|80||{Server}").GetProperty("transport_socket").GetProperty("typed_config")
            .GetProperty("common_tls_context");
        Assert.Equal($"kubernetes://{Generic}", common.GetProperty("tls_certificate_sds_secret_configs")[0].GetProperty("name").GetString());
    }

    // "unauthorized sidecar": b's service account may not list Secrets; istiod (sds.go filterAuthorizedResources) sends
    // the CA (…-cacert, public) but not the certificate. "invalid client cert": fake-cert-chain.pem with key.pem — a
    // certificate whose key is not that one, which Envoy cannot load. And a Secret outside the client's namespace (here
    // the egress gateway's, EgressGateway:Credentials:<name>), which filterAuthorizedResources never gives a sidecar.
    // Each time the cluster's TLS is never ready → 503, nothing reaches the server. (Istio's comment calls it a warming
    // cluster, UH; the local gateway answers its not-ready socket's UF; Istio's test asserts the status only.)
    [Theory]
    [InlineData("b", Generic, false, Namespace)]
    [InlineData("c", Fake, true, Namespace)]
    [InlineData("a", Generic, true, null)]
    public async Task SidecarWithoutAClientCertificateItMayUseGets503(string app, string credential, bool authorized, string? credentialsNamespace)
    {
        await using var mesh = await StartAsync(app, Yaml(app, credential), authorized, credentialsNamespace);

        var reply = await mesh.GetAsync($"http://{Server}/");

        Assert.Equal(503, reply.Status);
        Assert.Equal(0, mesh.Echo(Server).Count);
    }

    // cluster_tls.go buildUpstreamClusterTLSContext: the same rule without workloadSelector gives the sidecar no TLS
    // context — it sends plain HTTP to the server's TLS port, which answers Go's 400 — and a workload the selector does
    // not pick (here app: b for a rule selecting a) gets no rule at all: plain HTTP as well.
    [Theory]
    [InlineData("a", false)]
    [InlineData("b", true)]
    public async Task WithoutASelectorThatPicksItTheSidecarSpeaksPlainText(string app, bool withSelector)
    {
        await using var mesh = await StartAsync(app, Yaml("a", Generic, withSelector), authorized: true);

        var reply = await mesh.GetAsync($"http://{Server}/");

        Assert.Equal(400, reply.Status);
        Assert.Contains("HTTP request to an HTTPS server", reply.Body, StringComparison.Ordinal);
        Assert.False(mesh.DumpedCluster("sidecar", $"outbound|80||{Server}").TryGetProperty("transport_socket", out _));
    }

    // istio.io egress-tls-origination mtls_test.sh, "Configure mutual TLS origination for egress traffic at sidecar":
    // the client's Secret client-credential and its Role (list secrets) in the client's namespace, the DestinationRule
    // originate-mtls-for-nginx (workloadSelector app: curl, exportTo ".", port 80 MUTUAL credentialName
    // client-credential) → the server's page (200; the task's nginx is a Kubernetes Service, here a ServiceEntry host),
    // and the sidecar's log line "GET / HTTP/1.1".
    [Fact]
    public async Task IstioIoTaskSidecarMutualTlsOriginationGets200AndTheSidecarLogsTheGet()
    {
        var yaml = Yaml("curl", Generic).Replace($"originate-tls-for-server-sds-curl", "originate-mtls-for-nginx", StringComparison.Ordinal)
            .Replace($"credentialName: {Generic}", "credentialName: client-credential", StringComparison.Ordinal);
        var settings = new Dictionary<string, string?>
        {
            ["EgressGateway:WorkloadNamespace"] = Namespace,
            ["EgressGateway:WorkloadLabels:app"] = "curl",
            ["EgressGateway:WorkloadCanListSecrets"] = "true",
            [$"EgressGateway:Credentials:{Namespace}/client-credential"] = Secrets.Value[Generic],
        };
        await using var mesh = await ConformanceMesh.StartAsync(yaml, settings, new External(Server, Tls: true) { ClientCa = TestCa.Certificate });

        var reply = await mesh.GetAsync($"http://{Server}/");

        Assert.Equal(200, reply.Status);
        Assert.True(reply.Received.Tls);
        Assert.Contains("\"GET / HTTP/1.1\" 200 ", mesh.LastAccessLog("sidecar").Line, StringComparison.Ordinal);
    }

    // The Secrets of the cases as folders (generic: cert, key, cacert): the client certificate the server's CA
    // issued; and Istio's fake one — a certificate of another CA with that client's key, not its own.
    private static Dictionary<string, string?> CreateSecrets()
    {
        var root = Directory.CreateTempSubdirectory("demo-sidecar-mtls-secrets").FullName;
        var (certificate, key) = MutualTlsOriginationCaseTests.ClientFiles();
        var (fakeCertificate, _) = MutualTlsOriginationCaseTests.FakeClientFiles();
        var ca = File.ReadAllText(TestCa.RootCertPath);
        string Folder(string name, string certificatePath)
        {
            var folder = Directory.CreateDirectory(Path.Combine(root, name)).FullName;
            File.WriteAllText(Path.Combine(folder, "cert"), File.ReadAllText(certificatePath));
            File.WriteAllText(Path.Combine(folder, "key"), File.ReadAllText(key));
            File.WriteAllText(Path.Combine(folder, "cacert"), ca);
            return folder;
        }
        return new() { [Generic] = Folder(Generic, certificate), [Fake] = Folder(Fake, fakeCertificate) };
    }
}
