namespace Demo.EgressGateway.Istio;

/// <summary>
/// Where the analyzed configuration is going to run: the names Kubernetes, not the YAML, provides — the egress
/// gateway's Service and pod labels, the namespace and labels of the calling workload (whose sidecar the local
/// gateway also plays), and the Istio version.
/// </summary>
public sealed partial record MeshEnvironment(
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
}
