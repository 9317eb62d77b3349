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
    /// Kubernetes Secret name → PEM CA bundle standing for that Secret's ca.crt locally (EgressGateway:Credentials).
    /// Null: not known here (the analyze command), so credentialName is not checked.
    /// </summary>
    public IReadOnlyDictionary<string, string>? Credentials { get; init; }

    /// <summary>The SDS resource name istiod gives the CA of a DestinationRule credentialName: <c>kubernetes://&lt;name&gt;-cacert</c>.</summary>
    public static string CaCredentialResource(string credentialName) => $"kubernetes://{credentialName}{CaCredentialSuffix}";

    /// <summary>
    /// The CA bundle standing for a DestinationRule's credentialName, found as istiod finds it: security/model
    /// ApplyCustomSDSToClientCommonTLSContext asks for <c>&lt;name&gt;-cacert</c>, and credentials/kube/secrets.go
    /// GetCaCert reads the Secret of that name, else the Secret <c>&lt;name&gt;</c>. Null: no such Secret.
    /// </summary>
    public string? CaForCredential(string credentialName) =>
        Credentials?.GetValueOrDefault(credentialName + CaCredentialSuffix) ?? Credentials?.GetValueOrDefault(credentialName);

    private const string CaCredentialSuffix = "-cacert";
}
