using System.Text.Json.Serialization;

namespace Demo.EgressGateway.Envoy;

// Listeners as envoy.config.listener.v3 nests them: listener → filter chains (match, transport socket) → the HTTP
// connection manager network filter (RDS name, tracing, HTTP filters).

/// <summary>envoy.config.listener.v3.Listener: one port; its filter chains are chosen by SNI (server_names) and transport protocol.</summary>
/// <param name="Name">Istio's name, <c>0.0.0.0_&lt;port&gt;</c>.</param>
public sealed record Listener(string Name, Address Address, IReadOnlyList<FilterChain> FilterChains)
{
    [JsonPropertyName("@type"), JsonPropertyOrder(-1)]
    public string TypeUrl => "type.googleapis.com/envoy.config.listener.v3.Listener";

    /// <summary>listener_filters, e.g. <c>envoy.filters.listener.tls_inspector</c> where chains match on SNI.</summary>
    public IReadOnlyList<ListenerFilter> ListenerFilters { get; init; } = [];

    /// <summary>traffic_direction: <c>OUTBOUND</c> for a sidecar's outbound listeners; null: unspecified (gateways).</summary>
    public string? TrafficDirection { get; init; }

    /// <summary>bind_to_port: false for a sidecar's per-port outbound listeners (the virtual outbound listener takes the
    /// intercepted connections and hands them over); null: Envoy's default (bind).</summary>
    public bool? BindToPort { get; init; }

    /// <summary>default_filter_chain: what a connection no chain takes gets — Istio's PassthroughFilterChain (a TCP proxy
    /// to the PassthroughCluster under ALLOW_ANY, the BlackHoleCluster under REGISTRY_ONLY); null: the connection is closed.</summary>
    public FilterChain? DefaultFilterChain { get; init; }

    /// <summary>The port the listener binds (address.socket_address.port_value).</summary>
    [JsonIgnore]
    public int Port => Address.SocketAddress.PortValue;
}

/// <summary>
/// envoy.config.listener.v3.FilterChain: <see cref="FilterChainMatch"/> selects it; its one network filter is either the
/// HTTP connection manager, naming the route configuration (RDS) whose virtual hosts and routes then select by Host and
/// path, or the TCP proxy, naming the cluster the connection's bytes go to as they are;
/// <see cref="TransportSocket"/>, when set, terminates TLS (a Gateway server with tls.mode ISTIO_MUTUAL, SIMPLE, MUTUAL
/// or OPTIONAL_MUTUAL; listener.go BuildListenerTLSContext).
/// </summary>
public sealed record FilterChain(
    string Name,
    FilterChainMatch? FilterChainMatch,
    IReadOnlyList<NetworkFilter> Filters,
    TransportSocket<DownstreamTlsContext>? TransportSocket)
{
    /// <summary>The chain's HTTP connection manager; null for a TCP proxy chain.</summary>
    [JsonIgnore]
    public HttpConnectionManager? HttpConnectionManager => Filters[0].TypedConfig as HttpConnectionManager;

    /// <summary>The chain's TCP proxy; null for an HTTP chain.</summary>
    [JsonIgnore]
    public TcpProxy? TcpProxy => Filters[0].TypedConfig as TcpProxy;

    /// <summary>The TLS context the chain terminates with; null: plain text.</summary>
    [JsonIgnore]
    public DownstreamTlsContext? DownstreamTls => TransportSocket?.TypedConfig;
}

/// <summary>envoy.config.listener.v3.ListenerFilter, by name.</summary>
public sealed record ListenerFilter(string Name)
{
    public const string TlsInspector = "envoy.filters.listener.tls_inspector";
}

/// <summary>envoy.config.listener.v3.FilterChainMatch: the SNI names a chain accepts (empty: any) and the transport protocol (<c>tls</c>, or null: any).</summary>
public sealed record FilterChainMatch(IReadOnlyList<string> ServerNames, string? TransportProtocol)
{
    /// <summary>
    /// prefix_ranges: the destination addresses the chain takes (empty: any). Envoy matches them before server names,
    /// the most specific range first.
    /// </summary>
    public IReadOnlyList<CidrRange> PrefixRanges { get; init; } = [];
}

/// <summary>envoy.config.core.v3.CidrRange: an address prefix and its length in bits.</summary>
public sealed record CidrRange(string AddressPrefix, uint PrefixLen)
{
    /// <summary>Whether <paramref name="address"/> is in the range.</summary>
    public bool Contains(System.Net.IPAddress address) =>
        System.Net.IPNetwork.TryParse($"{AddressPrefix}/{PrefixLen}", out var network) && network.Contains(address);

    /// <summary>Istio's form of an address: <c>10.0.0.1</c> (a host: /32 or /128) or <c>10.0.0.0/24</c>; null if it is neither.</summary>
    public static CidrRange? Parse(string value)
    {
        var slash = value.IndexOf('/', StringComparison.Ordinal);
        var address = slash < 0 ? value : value[..slash];
        if (!System.Net.IPAddress.TryParse(address, out var ip))
        {
            return null;
        }
        var bits = ip.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 ? 128u : 32u;
        return slash < 0 ? new CidrRange(address, bits)
            : uint.TryParse(value.AsSpan(slash + 1), out var length) && length <= bits ? new CidrRange(address, length) : null;
    }
}

/// <summary>
/// envoy.config.listener.v3.Filter: <c>envoy.filters.network.http_connection_manager</c> with an
/// <see cref="Envoy.HttpConnectionManager"/>, or <c>envoy.filters.network.tcp_proxy</c> with a <see cref="Envoy.TcpProxy"/>.
/// </summary>
public sealed record NetworkFilter(string Name, object TypedConfig)
{
    public const string HttpConnectionManagerName = "envoy.filters.network.http_connection_manager";
    public const string TcpProxyName = "envoy.filters.network.tcp_proxy";
}

/// <summary>
/// envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy: the connection's bytes go to <see cref="Cluster"/> as they
/// are (Istio's outbound TLS/TCP chains: <c>outbound|443||host</c>, or a <c>tls</c>/<c>tcp</c> route's destination;
/// PassthroughCluster and BlackHoleCluster for the virtual outbound listener's own chains). <see cref="StatPrefix"/>
/// is the cluster name, as istiod writes it (tcp.go buildOutboundNetworkFiltersWithSingleDestination).
/// </summary>
public sealed record TcpProxy(string StatPrefix, string? Cluster)
{
    [JsonPropertyName("@type"), JsonPropertyOrder(-1)]
    public string TypeUrl => "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy";

    /// <summary>weighted_clusters: a tls/tcp route with several destinations; each connection goes to one, by weight.</summary>
    public TcpProxyWeightedCluster? WeightedClusters { get; init; }

    /// <summary>The cluster a new connection goes to: <see cref="Cluster"/>, or one of the weighted clusters picked by weight.</summary>
    public string PickCluster()
    {
        if (WeightedClusters is not { Clusters.Count: > 0 } weighted)
        {
            return Cluster ?? "";
        }
        var roll = Random.Shared.NextInt64(weighted.Clusters.Sum(c => (long)c.Weight));
        foreach (var cluster in weighted.Clusters)
        {
            if ((roll -= cluster.Weight) < 0)
            {
                return cluster.Name;
            }
        }
        return weighted.Clusters[^1].Name;
    }
}

/// <summary>TcpProxy.WeightedCluster: clusters picked per connection with probability weight / Σ weights.</summary>
public sealed record TcpProxyWeightedCluster(IReadOnlyList<TcpProxyClusterWeight> Clusters);

/// <summary>TcpProxy.WeightedCluster.ClusterWeight.</summary>
public sealed record TcpProxyClusterWeight(string Name, int Weight);

/// <summary>
/// HttpConnectionManager.SetCurrentClientCertDetails: which of the client certificate's fields go into
/// <c>x-forwarded-client-cert</c> (Istio's gateways: subject, cert, dns, uri).
/// </summary>
public sealed record ClientCertDetails(bool Subject, bool Cert, bool Chain, bool Dns, bool Uri);

/// <summary>
/// envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager: the route configuration by RDS
/// name (e.g. <c>80</c>, <c>http.80</c> or <c>https.443.https.hello-cf-egress.istio-system</c>), the tracing settings
/// and the HTTP filter chain (Istio's egress path: fault, cors, router).
/// </summary>
public sealed record HttpConnectionManager(string StatPrefix, Rds Rds, IReadOnlyList<HttpFilter> HttpFilters)
{
    [JsonPropertyName("@type"), JsonPropertyOrder(-1)]
    public string TypeUrl => "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager";

    /// <summary>tracing; null: Envoy's defaults.</summary>
    public HttpTracing? Tracing { get; init; }

    /// <summary>
    /// forward_client_cert_details: what happens to <c>x-forwarded-client-cert</c>. Null is Envoy's default, SANITIZE
    /// (removed; a sidecar's outbound manager); Istio's gateways use SANITIZE_SET (gateway.go
    /// buildGatewayConnectionManager): on an mTLS connection set to the client certificate's details, else removed.
    /// </summary>
    public string? ForwardClientCertDetails { get; init; }

    /// <summary>set_current_client_cert_details: the fields SANITIZE_SET writes besides By and Hash.</summary>
    public ClientCertDetails? SetCurrentClientCertDetails { get; init; }

    /// <summary>The HTTP filters istiod configures on outbound and gateway connection managers, in order.</summary>
    public static readonly IReadOnlyList<HttpFilter> DefaultHttpFilters =
        [new("envoy.filters.http.fault"), new("envoy.filters.http.cors"), new("envoy.filters.http.router")];
}

/// <summary>HttpConnectionManager.Rds: the route configuration's name.</summary>
public sealed record Rds(string RouteConfigName);

/// <summary>
/// HttpConnectionManager.Tracing: <c>spawn_upstream_span</c> makes the router start a child span per upstream request
/// (<c>router &lt;cluster&gt; egress</c>, Envoy's upstream_request.cc) besides the proxy's own span.
/// </summary>
public sealed record HttpTracing(bool? SpawnUpstreamSpan);

/// <summary>envoy.extensions.filters.network.http_connection_manager.v3.HttpFilter, by name.</summary>
public sealed record HttpFilter(string Name);

/// <summary>
/// envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext as listener.go BuildListenerTLSContext writes it:
/// the certificate served (SDS), the client validation context (present for ISTIO_MUTUAL, MUTUAL and OPTIONAL_MUTUAL,
/// with the Gateway server's subjectAltNames as exact <c>match_subject_alt_names</c>), the ALPN offered, and
/// <c>require_client_certificate</c> (true for ISTIO_MUTUAL and MUTUAL).
/// </summary>
public sealed record DownstreamTlsContext(CommonTlsContext CommonTlsContext, bool? RequireClientCertificate)
{
    [JsonPropertyName("@type"), JsonPropertyOrder(-1)]
    public string TypeUrl => "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext";

    /// <summary>The server asks for a client certificate (it has a validation context).</summary>
    [JsonIgnore]
    public bool ValidatesClient => CommonTlsContext.CombinedValidationContext is not null;

    /// <summary>The exact SANs a client certificate must carry one of; empty: any mesh identity.</summary>
    [JsonIgnore]
    public IReadOnlyList<string> MatchSubjectAltNames => CommonTlsContext.CombinedValidationContext?.DefaultValidationContext.ExactNames ?? [];
}
