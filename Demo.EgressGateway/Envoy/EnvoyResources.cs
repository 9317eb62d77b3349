using System.Text.Json.Serialization;

namespace Demo.EgressGateway.Envoy;

// The xDS configuration istiod pushes to a proxy, reduced to the fields the local gateway executes. Names, nesting and
// field names follow Envoy's v3 protos (envoy.config.listener.v3, envoy.config.route.v3, envoy.config.cluster.v3,
// envoy.config.endpoint.v3, envoy.extensions.*), so that /config_dump is their JSON serialization (ProtoJson) and can
// be read beside `istioctl proxy-config listeners|routes|clusters <pod> -o json`. Built by IstioTranslator only.
// Properties marked [JsonIgnore] are read-only views of proto fields, for the data plane; none holds a value of its own.

/// <summary>Everything one proxy (a sidecar, or the egress gateway) received: listeners, route configurations, clusters, their endpoints and secrets.</summary>
/// <param name="Node">The proxy, as Istio names it: <c>sidecar~…</c> or <c>router~…</c>.</param>
/// <param name="Namespace">The namespace the proxy runs in; decides what it sees (<c>exportTo</c>).</param>
/// <param name="EndpointConfigs">EDS: the endpoints of each cluster whose type is EDS (envoy.config.endpoint.v3.ClusterLoadAssignment, by cluster name).</param>
/// <param name="Secrets">SDS: what the proxy's agent serves for the secrets its TLS contexts name (file paths, never key material).</param>
public sealed record ProxyConfig(
    string Node,
    string Namespace,
    IReadOnlyList<Listener> Listeners,
    IReadOnlyList<RouteConfiguration> RouteConfigs,
    IReadOnlyList<Cluster> Clusters,
    IReadOnlyList<ClusterLoadAssignment> EndpointConfigs,
    IReadOnlyList<Secret> Secrets)
{
    /// <summary>
    /// Envoy's runtime feature <c>envoy.reloadable_features.explicit_internal_address_config</c>: true (Envoy ≥ 1.33,
    /// Istio ≥ 1.25) trusts no downstream address as internal when the connection manager has no
    /// <c>internal_address_config</c>; false (Envoy ≤ 1.32) trusts RFC 1918 and loopback addresses. Not part of the
    /// xDS Istio pushes: a property of the Envoy the Istio version ships.
    /// </summary>
    public bool ExplicitInternalAddressConfig { get; init; }

    /// <summary>
    /// istio.networking.nds.v1.NameTable, what istiod sends the sidecar's agent for its DNS proxy: the addresses of each
    /// service host that has some; null for a gateway. Not Envoy's configuration: the app's name lookups.
    /// </summary>
    public NameTable? NameTable { get; init; }

    /// <summary>The endpoints of <paramref name="cluster"/>: its load_assignment, or for an EDS cluster what EDS delivered (none: empty).</summary>
    public IReadOnlyList<LbEndpoint> EndpointsOf(Cluster cluster) => EndpointIndex()(cluster);

    /// <summary><see cref="EndpointsOf"/> for many clusters: EDS's assignments indexed by cluster name once (the first of a name).</summary>
    public Func<Cluster, IReadOnlyList<LbEndpoint>> EndpointIndex()
    {
        var byName = new Dictionary<string, ClusterLoadAssignment>(StringComparer.Ordinal);
        foreach (var assignment in EndpointConfigs)
        {
            byName.TryAdd(assignment.ClusterName, assignment);
        }
        return cluster => (cluster.LoadAssignment
            ?? (cluster.EdsClusterConfig?.ServiceName is { } name ? byName.GetValueOrDefault(name) : null))?.LbEndpoints ?? [];
    }

    /// <summary>The secret named <paramref name="name"/>, or null when SDS does not supply it.</summary>
    public Secret? FindSecret(string? name) => name is null ? null : Secrets.FirstOrDefault(s => s.Name == name);
}

/// <summary>istio.networking.nds.v1.NameTable: host → its addresses (NameInfo.ips) and registry.</summary>
public sealed record NameTable(IReadOnlyDictionary<string, NameInfo> Table)
{
    /// <summary>The first address the DNS proxy answers for <paramref name="host"/>; null if it has none.</summary>
    public System.Net.IPAddress? Resolve(string host) =>
        Table.TryGetValue(host.TrimEnd('.'), out var info) && info.Ips.Count > 0 && System.Net.IPAddress.TryParse(info.Ips[0], out var ip) ? ip : null;
}

/// <summary>istio.networking.nds.v1.NameTable.NameInfo.</summary>
public sealed record NameInfo(IReadOnlyList<string> Ips, string Registry);

/// <summary>envoy.config.core.v3.Address: a socket address.</summary>
public sealed record Address(SocketAddress SocketAddress);

/// <summary>envoy.config.core.v3.SocketAddress: an IP or host name, and a port.</summary>
public sealed record SocketAddress(string Address, int PortValue);

/// <summary>envoy.type.matcher.v3.StringMatcher: exactly one of exact, prefix, safe_regex.</summary>
public sealed record StringMatcher(string? Exact, string? Prefix, RegexMatcher? SafeRegex);

/// <summary>envoy.type.matcher.v3.RegexMatcher (RE2 syntax; .NET's engine with a timeout runs it).</summary>
public sealed record RegexMatcher(string Regex);

/// <summary>envoy.type.v3.FractionalPercent: numerator / denominator (HUNDRED or MILLION). Istio writes <c>percentage.value</c> × 10 000 per MILLION.</summary>
public sealed record FractionalPercent(uint Numerator, string Denominator)
{
    /// <summary>The share in percent (0–100).</summary>
    [JsonIgnore]
    public double Percent => Denominator == "MILLION" ? Numerator / 10_000d : Numerator;
}

/// <summary>envoy.config.core.v3.Metadata: <c>filter_metadata</c> with Istio's entry (<c>istio</c>).</summary>
public sealed record Metadata<T>(FilterMetadata<T> FilterMetadata)
{
    /// <summary>The <c>filter_metadata.istio</c> entry.</summary>
    [JsonIgnore]
    public T Istio => FilterMetadata.Istio;
}

/// <summary>The <c>filter_metadata</c> map, with the one key Istio writes, <c>istio</c>.</summary>
public sealed record FilterMetadata<T>(T Istio);

/// <summary>envoy.config.core.v3.TransportSocket named <c>envoy.transport_sockets.tls</c>, with its TLS context as typed_config.</summary>
public sealed record TransportSocket<T>(string Name, T TypedConfig)
{
    public const string Tls = "envoy.transport_sockets.tls";
}

/// <summary>envoy.extensions.transport_sockets.tls.v3.SdsSecretConfig: a secret the proxy's agent serves by name.</summary>
/// <param name="Name">Istio's names: <c>default</c> (the workload certificate), <c>ROOTCA</c> (the mesh root),
/// <c>kubernetes://&lt;secret&gt;</c>, <c>kubernetes://&lt;secret&gt;-cacert</c>, <c>file-cert:&lt;cert&gt;~&lt;key&gt;</c>,
/// <c>file-root:&lt;ca&gt;</c> (security.SdsCertificateConfig).</param>
public sealed record SdsSecretConfig(string Name)
{
    public const string WorkloadCertificate = "default";
    public const string MeshRoot = "ROOTCA";

    /// <summary>The CA of the machine (the gateway's EgressGateway:TrustedCaPath, else the system's store).</summary>
    public const string SystemRoot = "file-root:system";
}

/// <summary>envoy.extensions.transport_sockets.tls.v3.CommonTlsContext, as istiod fills it for SDS.</summary>
/// <param name="TlsCertificateSdsSecretConfigs">The certificate presented (empty: none).</param>
/// <param name="CombinedValidationContext">How the peer is verified; null: not at all (insecureSkipVerify, or a server that does not ask).</param>
public sealed record CommonTlsContext(
    IReadOnlyList<SdsSecretConfig> TlsCertificateSdsSecretConfigs,
    CombinedCertificateValidationContext? CombinedValidationContext);

/// <summary>CommonTlsContext.CombinedCertificateValidationContext: the static part and the SDS secret with the trusted CA.</summary>
public sealed record CombinedCertificateValidationContext(
    DefaultValidationContext DefaultValidationContext,
    SdsSecretConfig ValidationContextSdsSecretConfig);

/// <summary>The static CertificateValidationContext: the peer certificate must carry one of these SANs (exact); empty: no name check.</summary>
public sealed record DefaultValidationContext(IReadOnlyList<StringMatcher> MatchSubjectAltNames)
{
    /// <summary>The exact names of <see cref="MatchSubjectAltNames"/>.</summary>
    [JsonIgnore]
    public IReadOnlyList<string> ExactNames => [.. MatchSubjectAltNames.Select(m => m.Exact!)];
}

/// <summary>
/// envoy.extensions.transport_sockets.tls.v3.Secret as the proxy's agent serves it over SDS: a certificate chain and
/// its key (<see cref="TlsCertificate"/>) or a trusted CA (<see cref="ValidationContext"/>), each as a file.
/// </summary>
public sealed record Secret(string Name, TlsCertificate? TlsCertificate, SecretValidationContext? ValidationContext)
{
    [JsonPropertyName("@type"), JsonPropertyOrder(-1)]
    public string TypeUrl => "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret";
}

/// <summary>envoy.extensions.transport_sockets.tls.v3.TlsCertificate: PEM files of the chain and its private key.</summary>
public sealed record TlsCertificate(DataSource CertificateChain, DataSource PrivateKey);

/// <summary>envoy.extensions.transport_sockets.tls.v3.CertificateValidationContext of a secret: the trusted CA bundle file.</summary>
public sealed record SecretValidationContext(DataSource TrustedCa);

/// <summary>envoy.config.core.v3.DataSource: one of filename, inline_string, inline_bytes.</summary>
public sealed record DataSource(string? Filename = null, string? InlineString = null, byte[]? InlineBytes = null);
