namespace Demo.EgressGateway.Istio;

/// <summary>
/// Where the analyzed configuration is going to run: the names Kubernetes, not the YAML, provides — the egress
/// gateway's Service and pod labels, the namespace and labels of the calling workload (whose sidecar the local
/// gateway also plays), and the Istio version.
/// </summary>
public sealed record MeshEnvironment(
    string EgressGatewayService = MeshEnvironment.DefaultEgressGatewayService,
    IReadOnlyDictionary<string, string>? EgressGatewayLabels = null)
{
    public const string DefaultEgressGatewayService = "istio-egressgateway.istio-system.svc.cluster.local";
    public const string DefaultWorkloadNamespace = "demo";
    public const string MeshGateway = "mesh";

    public IReadOnlyDictionary<string, string> GatewayLabels { get; } =
        EgressGatewayLabels ?? new Dictionary<string, string> { ["istio"] = "egressgateway" };

    /// <summary>The namespace of the egress gateway's pods: the second label of its Service name.</summary>
    public string GatewayNamespace => EgressGatewayService.Split('.') is { Length: > 1 } parts ? parts[1] : "istio-system";

    /// <summary>The calling workload's namespace (deploy/settings.yaml appNamespace): what its sidecar sees.</summary>
    public string WorkloadNamespace { get; init; } = DefaultWorkloadNamespace;

    /// <summary>The calling workload's pod labels, for <c>match.sourceLabels</c>.</summary>
    public IReadOnlyDictionary<string, string> WorkloadLabels { get; init; } = new Dictionary<string, string> { ["app"] = "proxy" };

    public IstioVersion IstioVersion { get; init; } = IstioVersion.Default;

    /// <summary>Istio's outbound traffic policy that lets only registered hosts out (block_all for the rest: 502).</summary>
    public const string RegistryOnly = "REGISTRY_ONLY";

    /// <summary>Istio's outbound traffic policy that passes unregistered hosts to their original destination (PassthroughCluster).</summary>
    public const string AllowAny = "ALLOW_ANY";

    /// <summary>
    /// The calling workload's sidecar's <c>outboundTrafficPolicy.mode</c> (its namespace's Sidecar resource, else
    /// <c>meshConfig.outboundTrafficPolicy.mode</c>, whose default is ALLOW_ANY): <see cref="RegistryOnly"/>, the demo's
    /// (deploy/cluster/sidecar.yaml), or <see cref="AllowAny"/>. httproute.go BuildCatchAllVirtualHost builds the
    /// sidecar's catch-all virtual host from it.
    /// </summary>
    public string OutboundTrafficPolicy { get; init; } = RegistryOnly;

    /// <summary>
    /// Kubernetes Secret name → what stands for that Secret locally (EgressGateway:Credentials): a PEM file, the
    /// Secret's CA bundle alone, or a folder holding the Secret's keys as files, as a Secret volume mounts them —
    /// <c>tls.crt</c>, <c>tls.key</c>, <c>ca.crt</c> (kubernetes.io/tls) or <c>cert</c>, <c>key</c>, <c>cacert</c>
    /// (generic). Null: not known here (the analyze command), so credentialName is not checked.
    /// </summary>
    public IReadOnlyDictionary<string, string>? Credentials { get; init; }

    /// <summary>The SDS resource name istiod gives the CA of a DestinationRule credentialName: <c>kubernetes://&lt;name&gt;-cacert</c>.</summary>
    public static string CaCredentialResource(string credentialName) => $"kubernetes://{credentialName}{CaCredentialSuffix}";

    /// <summary>
    /// The CA bundle standing for a DestinationRule's credentialName, found as istiod finds it: security/model
    /// ApplyCustomSDSToClientCommonTLSContext asks for <c>&lt;name&gt;-cacert</c>, and credentials/kube/secrets.go
    /// GetCaCert reads the Secret of that name, else — only when there is no such Secret — the Secret <c>&lt;name&gt;</c>.
    /// Null: no such Secret, or the one read holds no CA (ExtractRoot fails: the secret is not supplied).
    /// </summary>
    public string? CaForCredential(string credentialName) =>
        Credentials?.GetValueOrDefault(credentialName + CaCredentialSuffix) is { } caSecret
            ? CaOf(caSecret)
            : CaOf(Credentials?.GetValueOrDefault(credentialName));

    /// <summary>
    /// The client certificate and key of a DestinationRule's MUTUAL credentialName (SDS <c>kubernetes://&lt;name&gt;</c>),
    /// as credentials/kube/secrets.go extractKeyAndCert reads the Secret: <c>cert</c>/<c>key</c> (generic), else
    /// <c>tls.crt</c>/<c>tls.key</c>. Null: no such Secret, or one without a certificate and key.
    /// </summary>
    public (string Certificate, string Key)? KeyCertForCredential(string credentialName)
    {
        if (Credentials?.GetValueOrDefault(credentialName) is not { } folder || !Directory.Exists(folder))
        {
            return null;
        }
        foreach (var (cert, key) in new[] { ("cert", "key"), ("tls.crt", "tls.key") })
        {
            if (File.Exists(Path.Combine(folder, cert)) && File.Exists(Path.Combine(folder, key)))
            {
                return IsUsableKeyPair(Path.Combine(folder, cert), Path.Combine(folder, key)) ? (Path.Combine(folder, cert), Path.Combine(folder, key)) : null;
            }
        }
        return null;
    }

    /// <summary>
    /// Whether <paramref name="certificate"/> and <paramref name="key"/> are PEM files of a certificate and its own
    /// private key. Envoy refuses a secret that is not (its TLS context fails to load: "Failed to load private key…"),
    /// so the transport socket never becomes ready and every connection fails as without the secret.
    /// </summary>
    public static bool IsUsableKeyPair(string? certificate, string? key)
    {
        if (!File.Exists(certificate) || !File.Exists(key))
        {
            return false;
        }
        try
        {
            using var pair = System.Security.Cryptography.X509Certificates.X509Certificate2.CreateFromPemFile(certificate, key);
            return pair.HasPrivateKey;
        }
        catch (Exception ex) when (ex is System.Security.Cryptography.CryptographicException or ArgumentException)
        {
            return false;
        }
    }

    /// <summary>The SDS resource name istiod gives a DestinationRule credentialName's certificate: <c>kubernetes://&lt;name&gt;</c>.</summary>
    public static string CredentialResource(string credentialName) => $"kubernetes://{credentialName}";

    // A Secret's CA: the file itself, or the folder's cacert (generic) or ca.crt (kubernetes.io/tls).
    private static string? CaOf(string? path) => path is null ? null
        : !Directory.Exists(path) ? path
        : new[] { "cacert", "ca.crt" }.Select(key => Path.Combine(path, key)).FirstOrDefault(File.Exists);

    private const string CaCredentialSuffix = "-cacert";
}
