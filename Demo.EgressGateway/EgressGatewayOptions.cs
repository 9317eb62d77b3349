using System.ComponentModel.DataAnnotations;
using Demo.EgressGateway.Istio;

namespace Demo.EgressGateway;

public sealed class EgressGatewayOptions
{
    public const string SectionName = "EgressGateway";

    /// <summary>The Istio configuration to apply: deploy/istio, the same files that go to the cluster.</summary>
    [Required]
    public string ConfigDirectory { get; set; } = "";

    /// <summary>
    /// Comma-separated file names (without .yaml) from <c>scenarios/</c>; each replaces the resources of the same
    /// kind and name. Empty: the default configuration.
    /// </summary>
    public string Scenario { get; set; } = "";

    /// <summary>
    /// External host → local endpoint (<c>https://localhost:7443</c> or <c>127.0.0.1:7443</c>), like a hosts file:
    /// the connection goes there while Host and SNI stay the external name. Hosts not listed resolve through DNS.
    /// </summary>
    public Dictionary<string, string> Upstreams { get; set; } = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>PEM bundle of the CAs trusted for TLS origination (the local development CA). Empty: the system store.</summary>
    public string? TrustedCaPath { get; set; }

    /// <summary>The Kubernetes service name of Istio's egress gateway, as VirtualServices route to it.</summary>
    [Required]
    public string EgressGatewayService { get; set; } = MeshEnvironment.DefaultEgressGatewayService;

    /// <summary>Labels of the egress gateway's pods: Gateways whose selector matches are played by this process.</summary>
    public Dictionary<string, string> GatewayLabels { get; set; } = new() { ["istio"] = "egressgateway" };

    /// <summary>Port of the mesh listener (what the sidecar intercepts). Unset: the first ASPNETCORE_URLS address.</summary>
    [Range(1, 65535)]
    public int? MeshPort { get; set; }

    /// <summary>Port of health endpoints, like Envoy's admin/readiness port. Unset: served on every port.</summary>
    [Range(1, 65535)]
    public int? AdminPort { get; set; }

    /// <summary>Reload the configuration when a file changes (like kubectl apply).</summary>
    public bool WatchConfiguration { get; set; } = true;

    /// <summary>
    /// The workload whose sidecar this process plays, as Istio's <c>source_workload</c> label and the sidecar span's
    /// <c>istio.canonical_service</c> name it (the Deployment of Demo.Proxy).
    /// </summary>
    [Required]
    public string SourceWorkload { get; set; } = "proxy";

    /// <summary>One Envoy-style access-log line per request and proxy stage.</summary>
    public bool AccessLog { get; set; } = true;

    /// <summary>
    /// The Istio version the configuration targets (1.22–1.30, default 1.30): where istiod's translation changed in
    /// that range, the local gateway follows this version (see <see cref="Istio.IstioVersion"/>).
    /// </summary>
    public string IstioVersion { get; set; } = Istio.IstioVersion.Default.ToString();

    /// <summary>
    /// Kubernetes Secret → the local stand-in for the Secret a credentialName makes a proxy read: a PEM file with the CA
    /// bundle the Secret holds (its ca.crt), or a folder with the Secret's keys as files — <c>cert</c>, <c>key</c>,
    /// <c>cacert</c> (generic) or <c>tls.crt</c>, <c>tls.key</c>, <c>ca.crt</c> — for MUTUAL. The key is the Secret's
    /// name for a Secret of the egress gateway's namespace, <c>&lt;namespace&gt;/&lt;name&gt;</c> for one of another
    /// namespace — e.g. <c>demo/client</c> for the calling workload's sidecar (a DestinationRule with workloadSelector).
    /// As istiod, the CA comes from <c>&lt;name&gt;-cacert</c>, else <c>&lt;name&gt;</c>; the client certificate from
    /// <c>&lt;name&gt;</c>; a proxy reads only Secrets of its own namespace (see <see cref="WorkloadCanListSecrets"/>). A
    /// credentialName without them fails its connections, as Envoy does without the secret (503 UF), with a warning at
    /// load. A folder holding <c>ca.crl</c> stops the start (no CRL is checked here).
    /// </summary>
    public Dictionary<string, string> Credentials { get; set; } = new(StringComparer.Ordinal);

    /// <summary>
    /// Whether the calling workload's service account may list the Secrets of its namespace (a Role and RoleBinding, as
    /// Istio's test authorizeSidecar creates): istiod then gives its sidecar the client certificate of a credentialName
    /// Secret of that namespace (sds.go filterAuthorizedResources); without it only the CA (<c>&lt;name&gt;-cacert</c>),
    /// and MUTUAL connections fail (503). Default false, as Kubernetes grants nothing by default.
    /// </summary>
    public bool WorkloadCanListSecrets { get; set; }

    /// <summary>
    /// The calling workload's namespace (deploy/settings.yaml <c>appNamespace</c>): what its sidecar sees (exportTo), the
    /// namespace of its SPIFFE identity, and Istio's <c>source_workload_namespace</c> label.
    /// </summary>
    [Required]
    public string WorkloadNamespace { get; set; } = MeshEnvironment.DefaultWorkloadNamespace;

    /// <summary>
    /// The calling workload's outbound traffic policy: <c>REGISTRY_ONLY</c> (the demo's, from the Sidecar resource of
    /// its namespace, deploy/cluster/sidecar.yaml) or <c>ALLOW_ANY</c> (Istio's mesh-wide default,
    /// <c>meshConfig.outboundTrafficPolicy.mode</c>). See <see cref="MeshEnvironment.OutboundTrafficPolicy"/>.
    /// </summary>
    [Required, RegularExpression("^(REGISTRY_ONLY|ALLOW_ANY)$", ErrorMessage = "EgressGateway:OutboundTrafficPolicy must be REGISTRY_ONLY or ALLOW_ANY.")]
    public string OutboundTrafficPolicy { get; set; } = MeshEnvironment.RegistryOnly;

    /// <summary>The calling workload's pod labels, for VirtualService <c>match.sourceLabels</c>.</summary>
    public Dictionary<string, string> WorkloadLabels { get; set; } = new() { ["app"] = "proxy" };

    public IReadOnlyList<string> Scenarios =>
        Scenario.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

    public MeshEnvironment ToMeshEnvironment() => new(EgressGatewayService, GatewayLabels)
    {
        WorkloadNamespace = WorkloadNamespace,
        WorkloadLabels = WorkloadLabels,
        OutboundTrafficPolicy = OutboundTrafficPolicy,
        Credentials = Credentials,
        WorkloadCanListSecrets = WorkloadCanListSecrets,
        IstioVersion = Istio.IstioVersion.TryParse(IstioVersion, out var version) ? version : Istio.IstioVersion.Default,
    };
}
