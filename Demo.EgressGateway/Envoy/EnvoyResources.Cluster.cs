using System.Text.Json.Serialization;

namespace Demo.EgressGateway.Envoy;

// Clusters as envoy.config.cluster.v3 nests them: discovery type, load balancing, circuit breakers, outlier detection,
// endpoints (load_assignment, or EDS), the upstream TLS transport socket, the HTTP protocol options, Istio's metadata.

/// <summary>
/// envoy.config.cluster.v3.Cluster named as Istio names it: <c>outbound|port|subset|host</c>. The local gateway
/// knows where each endpoint really is (EgressGateway:Upstreams); Host header and SNI stay the external names.
/// </summary>
/// <param name="Type">STRICT_DNS, LOGICAL_DNS, EDS, STATIC, ORIGINAL_DST.</param>
/// <param name="LbPolicy">
/// <c>LEAST_REQUEST</c> (Istio's default, and LEAST_CONN), <c>ROUND_ROBIN</c> or <c>RANDOM</c> from the
/// DestinationRule's loadBalancer.simple; <c>RING_HASH</c>/<c>MAGLEV</c> for consistentHash; <c>CLUSTER_PROVIDED</c>
/// for an ORIGINAL_DST cluster (cluster_traffic_policy.go applyLoadBalancer). Written even for ROUND_ROBIN, the proto's
/// zero value.
/// </param>
public sealed record Cluster(string Name, string Type, TimeSpan ConnectTimeout, string LbPolicy, CircuitBreakers CircuitBreakers,
    Metadata<ClusterIstioMetadata> Metadata)
{
    [JsonPropertyName("@type"), JsonPropertyOrder(-1)]
    public string TypeUrl => "type.googleapis.com/envoy.config.cluster.v3.Cluster";

    /// <summary>ring_hash_lb_config (Istio: consistentHash's minimumRingSize); null: Envoy's 1024.</summary>
    public RingHashLbConfig? RingHashLbConfig { get; init; }

    /// <summary>outlier_detection; null: none (Istio writes it only for a DestinationRule's outlierDetection).</summary>
    public OutlierDetection? OutlierDetection { get; init; }

    /// <summary>common_lb_config.healthy_panic_threshold: Istio writes outlierDetection.minHealthPercent (0 unless set) when outlier detection is on.</summary>
    public CommonLbConfig? CommonLbConfig { get; init; }

    /// <summary>For an EDS cluster (a mesh service, the egress gateway's): where its endpoints come from.</summary>
    public EdsClusterConfig? EdsClusterConfig { get; init; }

    /// <summary>The endpoints of a cluster that is not EDS.</summary>
    public ClusterLoadAssignment? LoadAssignment { get; init; }

    /// <summary>transport_socket: TLS to the upstream (<see cref="UpstreamTlsContext"/>); null: plain text.</summary>
    public TransportSocket<UpstreamTlsContext>? TransportSocket { get; init; }

    /// <summary>typed_extension_protocol_options: the HTTP protocol options (HTTP/2, idle timeouts, auto SNI/SAN); null: Envoy's defaults.</summary>
    public TypedExtensionProtocolOptions? TypedExtensionProtocolOptions { get; init; }

    /// <summary>The upstream TLS context; null: plain text.</summary>
    [JsonIgnore]
    public UpstreamTlsContext? UpstreamTls => TransportSocket?.TypedConfig;

    /// <summary>The HTTP protocol options of <see cref="TypedExtensionProtocolOptions"/>; null: Envoy's defaults.</summary>
    [JsonIgnore]
    public HttpProtocolOptions? HttpProtocolOptions => TypedExtensionProtocolOptions?.HttpProtocolOptions;

    /// <summary>HTTP/2 to the upstream (explicit_http_config.http2_protocol_options; Istio: a port declared HTTP2 or GRPC).</summary>
    [JsonIgnore]
    public bool Http2 => HttpProtocolOptions?.ExplicitHttpConfig?.Http2ProtocolOptions is not null;

    /// <summary>use_downstream_protocol_config (Istio: connectionPool.http.useClientProtocol, and the PassthroughCluster).</summary>
    [JsonIgnore]
    public bool UseDownstreamProtocol => HttpProtocolOptions?.UseDownstreamProtocolConfig is not null;

    /// <summary>The service host this cluster stands for (Istio's metadata).</summary>
    [JsonIgnore]
    public string ServiceHost => Metadata.Istio.Services[0].Host;

    /// <summary>The subset (Istio's metadata); null: the whole service.</summary>
    [JsonIgnore]
    public string? Subset => Metadata.Istio.Subset;

    /// <summary>The service port, from the name as Istio's model.ParseSubsetKey reads it (<c>outbound|port|subset|host</c>); 0 for a cluster of another shape.</summary>
    [JsonIgnore]
    public int Port => Name.Split('|') is [_, var port, _, _] && int.TryParse(port, out var number) ? number : 0;
}

/// <summary>envoy.config.cluster.v3.Cluster.RingHashLbConfig.</summary>
public sealed record RingHashLbConfig(long MinimumRingSize);

/// <summary>envoy.config.cluster.v3.Cluster.CommonLbConfig: the panic threshold in percent.</summary>
public sealed record CommonLbConfig(Percent HealthyPanicThreshold);

/// <summary>envoy.type.v3.Percent (0–100).</summary>
public sealed record Percent(double Value);

/// <summary>envoy.config.cluster.v3.Cluster.EdsClusterConfig: endpoints over ADS, by service name (the cluster's name).</summary>
public sealed record EdsClusterConfig(EdsConfig EdsConfig, string ServiceName);

/// <summary>envoy.config.core.v3.ConfigSource as istiod writes it for EDS: ADS, V3, no initial fetch timeout.</summary>
public sealed record EdsConfig(AdsConfigSource Ads, TimeSpan InitialFetchTimeout, string ResourceApiVersion);

/// <summary>envoy.config.core.v3.AggregatedConfigSource (no fields).</summary>
public sealed record AdsConfigSource;

/// <summary>envoy.config.endpoint.v3.ClusterLoadAssignment: one locality with all endpoints (the local gateway has no localities).</summary>
public sealed record ClusterLoadAssignment(string ClusterName, IReadOnlyList<LocalityLbEndpoints> Endpoints)
{
    /// <summary>Every endpoint of every locality.</summary>
    [JsonIgnore]
    public IReadOnlyList<LbEndpoint> LbEndpoints => [.. Endpoints.SelectMany(e => e.LbEndpoints)];
}

/// <summary>envoy.config.endpoint.v3.LocalityLbEndpoints.</summary>
public sealed record LocalityLbEndpoints(IReadOnlyList<LbEndpoint> LbEndpoints);

/// <summary>envoy.config.endpoint.v3.LbEndpoint: the endpoint's address and the ServiceEntry endpoint's labels (as Istio's metadata).</summary>
public sealed record LbEndpoint(Endpoint Endpoint, Metadata<IReadOnlyDictionary<string, string>>? Metadata)
{
    /// <summary>An endpoint at <paramref name="address"/>:<paramref name="port"/> with <paramref name="labels"/> (none: no metadata).</summary>
    public static LbEndpoint At(string address, int port, IReadOnlyDictionary<string, string>? labels = null) =>
        new(new Endpoint(new Address(new SocketAddress(address, port))), labels is { Count: > 0 } ? new(new(labels)) : null);

    [JsonIgnore]
    public string Address => Endpoint.Address.SocketAddress.Address;

    [JsonIgnore]
    public int PortValue => Endpoint.Address.SocketAddress.PortValue;

    [JsonIgnore]
    public IReadOnlyDictionary<string, string> Labels => Metadata?.Istio ?? EmptyLabels;

    private static readonly IReadOnlyDictionary<string, string> EmptyLabels = new Dictionary<string, string>();
}

/// <summary>envoy.config.endpoint.v3.Endpoint.</summary>
public sealed record Endpoint(Address Address);

/// <summary>What Istio writes in a cluster's <c>metadata.filter_metadata.istio</c>: the service, the subset, the DestinationRule's config path.</summary>
public sealed record ClusterIstioMetadata(IReadOnlyList<ServiceMetadata> Services, string? Subset, string? Config);

/// <summary>One entry of the cluster metadata's <c>services</c>.</summary>
public sealed record ServiceMetadata(string Host);

/// <summary>envoy.config.cluster.v3.CircuitBreakers: the default priority's thresholds.</summary>
public sealed record CircuitBreakers(IReadOnlyList<Thresholds> Thresholds)
{
    /// <summary>The default priority's thresholds (the only ones Istio writes).</summary>
    [JsonIgnore]
    public Thresholds Default => Thresholds[0];
}

/// <summary>
/// CircuitBreakers.Thresholds (Envoy's defaults 1024 each; Istio raises unset ones to 2^32−1); track_remaining keeps
/// the <c>circuit_breakers.default.remaining_*</c> gauges (see <see cref="Istio.IstioVersion.CircuitBreakersTrackRemaining"/>).
/// </summary>
public sealed record Thresholds(long MaxConnections, long MaxPendingRequests, long MaxRequests, long MaxRetries, bool TrackRemaining);

/// <summary>
/// envoy.config.cluster.v3.OutlierDetection as Istio fills it (cluster_traffic_policy.go applyOutlierDetection);
/// unset Istio fields keep Envoy's defaults (consecutive_5xx 5, consecutive_gateway_failure 5, interval 10 s, base
/// ejection 30 s, max 10 %).
/// </summary>
public sealed record OutlierDetection(
    [property: JsonPropertyName("consecutive_5xx")] int? Consecutive5xx,
    TimeSpan Interval,
    TimeSpan BaseEjectionTime,
    int MaxEjectionPercent,
    [property: JsonPropertyName("enforcing_consecutive_5xx")] int EnforcingConsecutive5xx,
    int? ConsecutiveGatewayFailure,
    int EnforcingConsecutiveGatewayFailure)
{
    /// <summary>enforcing_success_rate: Istio writes 0 (success-rate ejection off).</summary>
    public int? EnforcingSuccessRate { get; init; } = 0;

    /// <summary>split_external_local_origin_errors (Istio: splitExternalLocalOriginErrors).</summary>
    public bool SplitExternalLocalOriginErrors { get; init; }

    /// <summary>consecutive_local_origin_failure (Istio: consecutiveLocalOriginFailures); null: Envoy's 5.</summary>
    public int? ConsecutiveLocalOriginFailure { get; init; }

    /// <summary>Envoy's max_ejection_time default (300 s), or the base ejection time when longer.</summary>
    [JsonIgnore]
    public TimeSpan MaxEjectionTime => BaseEjectionTime > DefaultMaxEjectionTime ? BaseEjectionTime : DefaultMaxEjectionTime;

    public static readonly TimeSpan DefaultMaxEjectionTime = TimeSpan.FromSeconds(300);

    /// <summary>5xx ejection is enforced (a threshold above 0 and enforcing_consecutive_5xx above 0).</summary>
    [JsonIgnore]
    public bool Enforce5xx => EnforcingConsecutive5xx > 0 && Consecutive5xx is not 0;

    /// <summary>Gateway-failure ejection is enforced.</summary>
    [JsonIgnore]
    public bool EnforceGatewayFailure => EnforcingConsecutiveGatewayFailure > 0 && ConsecutiveGatewayFailure is not 0;
}

/// <summary>
/// envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext as cluster_tls.go writes it: the SNI, and a common
/// TLS context whose secrets are SDS names (<see cref="SdsSecretConfig"/>): ISTIO_MUTUAL presents <c>default</c> and
/// trusts <c>ROOTCA</c>; SIMPLE trusts <c>file-root:&lt;caCertificates&gt;</c>, <c>kubernetes://&lt;name&gt;-cacert</c> or
/// the system; MUTUAL also presents <c>file-cert:…</c> or <c>kubernetes://&lt;name&gt;</c>; insecureSkipVerify has no
/// validation context.
/// </summary>
public sealed record UpstreamTlsContext(CommonTlsContext CommonTlsContext, string? Sni)
{
    [JsonPropertyName("@type"), JsonPropertyOrder(-1)]
    public string TypeUrl => "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext";

    /// <summary>Istio's own mTLS to a mesh proxy: the workload certificate (<c>default</c>) and the mesh root (<c>ROOTCA</c>).</summary>
    [JsonIgnore]
    public bool IstioMutual => CommonTlsContext.CombinedValidationContext?.ValidationContextSdsSecretConfig.Name == SdsSecretConfig.MeshRoot;

    /// <summary>No validation context: the server's certificate is not verified (insecureSkipVerify).</summary>
    [JsonIgnore]
    public bool InsecureSkipVerify => CommonTlsContext.CombinedValidationContext is null;

    /// <summary>The exact SANs the server certificate must carry one of; empty: none configured.</summary>
    [JsonIgnore]
    public IReadOnlyList<string> MatchSubjectAltNames => CommonTlsContext.CombinedValidationContext?.DefaultValidationContext.ExactNames ?? [];

    /// <summary>The SDS name of the trusted CA; null without validation.</summary>
    [JsonIgnore]
    public string? ValidationSecret => CommonTlsContext.CombinedValidationContext?.ValidationContextSdsSecretConfig.Name;

    /// <summary>The SDS name of the client certificate presented; null: none.</summary>
    [JsonIgnore]
    public string? CertificateSecret => CommonTlsContext.TlsCertificateSdsSecretConfigs is [var certificate, ..] ? certificate.Name : null;
}

/// <summary>Cluster.typed_extension_protocol_options, by extension name.</summary>
public sealed record TypedExtensionProtocolOptions(
    [property: JsonPropertyName("envoy.extensions.upstreams.http.v3.HttpProtocolOptions")] HttpProtocolOptions HttpProtocolOptions);

/// <summary>
/// envoy.extensions.upstreams.http.v3.HttpProtocolOptions as cluster_builder.go / cluster_traffic_policy.go write it:
/// the connection pool's HTTP settings, the upstream HTTP settings (auto_sni, auto_san_validation), and the protocol
/// (explicit HTTP/2, or the downstream's).
/// </summary>
public sealed record HttpProtocolOptions(
    CommonHttpProtocolOptions? CommonHttpProtocolOptions,
    UpstreamHttpProtocolOptions? UpstreamHttpProtocolOptions,
    ExplicitHttpConfig? ExplicitHttpConfig,
    UseDownstreamHttpConfig? UseDownstreamProtocolConfig)
{
    [JsonPropertyName("@type"), JsonPropertyOrder(-1)]
    public string TypeUrl => "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions";
}

/// <summary>
/// envoy.config.core.v3.HttpProtocolOptions: idle_timeout (Istio: connectionPool.http.idleTimeout; null: Envoy's 1 h),
/// max_connection_duration (connectionPool.tcp.maxConnectionDuration), max_requests_per_connection
/// (connectionPool.http.maxRequestsPerConnection; null: unlimited).
/// </summary>
public sealed record CommonHttpProtocolOptions(TimeSpan? IdleTimeout, TimeSpan? MaxConnectionDuration, int? MaxRequestsPerConnection);

/// <summary>
/// envoy.config.core.v3.UpstreamHttpProtocolOptions: auto_sni (the SNI is the request's Host) and auto_san_validation
/// (the certificate must be for that Host). istiod's cluster_tls.go (setAutoSniAndAutoSanValidation, 1.22–1.30) sets
/// them only when the rule has no <c>sni</c>, the validation only when it has no <c>subjectAltNames</c> and no
/// <c>insecureSkipVerify</c> either; with an explicit <c>sni</c> and no names anywhere, Envoy checks the chain only.
/// </summary>
public sealed record UpstreamHttpProtocolOptions(bool AutoSni, bool AutoSanValidation);

/// <summary>HttpProtocolOptions.ExplicitHttpConfig: HTTP/2 (an empty http2_protocol_options).</summary>
public sealed record ExplicitHttpConfig(Http2ProtocolOptions? Http2ProtocolOptions);

/// <summary>envoy.config.core.v3.Http2ProtocolOptions (Envoy's defaults).</summary>
public sealed record Http2ProtocolOptions;

/// <summary>HttpProtocolOptions.UseDownstreamHttpConfig: the upstream speaks what the downstream spoke.</summary>
public sealed record UseDownstreamHttpConfig;
