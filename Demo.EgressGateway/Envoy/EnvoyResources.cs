namespace Demo.EgressGateway.Envoy;

// The xDS configuration istiod pushes to a proxy, reduced to the fields the local gateway executes. Names and
// shapes follow Envoy's v3 API (envoy.config.listener.v3, envoy.config.route.v3, envoy.config.cluster.v3,
// envoy.extensions.filters.http.fault.v3, envoy.extensions.transport_sockets.tls.v3), so that /config_dump can be
// read beside `istioctl proxy-config listeners|routes|clusters <pod> -o json`. Built by IstioTranslator only.

/// <summary>Everything one proxy (a sidecar, or the egress gateway) received: listeners, route configurations, clusters.</summary>
/// <param name="Node">The proxy, as Istio names it: <c>sidecar~…</c> or <c>router~…</c>.</param>
/// <param name="Namespace">The namespace the proxy runs in; decides what it sees (<c>exportTo</c>).</param>
public sealed record ProxyConfig(
    string Node,
    string Namespace,
    IReadOnlyList<Listener> Listeners,
    IReadOnlyList<RouteConfiguration> RouteConfigs,
    IReadOnlyList<Cluster> Clusters)
{
    /// <summary>
    /// Envoy's runtime feature <c>envoy.reloadable_features.explicit_internal_address_config</c>: true (Envoy ≥ 1.33,
    /// Istio ≥ 1.25) trusts no downstream address as internal when the connection manager has no
    /// <c>internal_address_config</c>; false (Envoy ≤ 1.32) trusts RFC 1918 and loopback addresses. Not part of the
    /// xDS Istio pushes: a property of the Envoy the Istio version ships.
    /// </summary>
    public bool ExplicitInternalAddressConfig { get; init; }
}

/// <summary>envoy.config.listener.v3.Listener: one port; its filter chains are chosen by SNI (server_names).</summary>
public sealed record Listener(string Name, SocketAddress Address, IReadOnlyList<FilterChain> FilterChains);

public sealed record SocketAddress(string Address, int PortValue);

/// <summary>
/// One filter chain: <see cref="FilterChainMatch"/> (SNI) selects it; its HTTP connection manager names the route
/// configuration (RDS) whose virtual hosts and routes then select by Host and path.
/// </summary>
/// <param name="RouteConfigName">The RDS name of the HTTP connection manager, e.g. <c>80</c> or <c>https.443.https.hello-cf-egress.istio-system</c>.</param>
/// <param name="TransportProtocol">"tls" when the chain terminates TLS (an ISTIO_MUTUAL or SIMPLE server), else null.</param>
public sealed record FilterChain(string Name, FilterChainMatch? FilterChainMatch, string RouteConfigName, string? TransportProtocol)
{
    /// <summary>
    /// The Gateway server's tls.mode this chain terminates (ISTIO_MUTUAL, SIMPLE, …; null: plain text): Envoy's
    /// DownstreamTlsContext, with require_client_certificate for the mutual modes.
    /// </summary>
    public string? ServerTlsMode { get; init; }

    /// <summary>
    /// The DownstreamTlsContext's <c>default_validation_context.match_subject_alt_names</c> (exact): the client
    /// certificate must carry one of them (the Gateway server's <c>tls.subjectAltNames</c>); empty: no SAN check.
    /// </summary>
    public IReadOnlyList<string> MatchSubjectAltNames { get; init; } = [];

    /// <summary>
    /// The connection manager's <c>tracing.spawn_upstream_span</c>: the router then starts a child span per upstream
    /// request (<c>router &lt;cluster&gt; egress</c>, Envoy's upstream_request.cc) besides the proxy's own span.
    /// </summary>
    public bool SpawnUpstreamSpan { get; init; }
}

/// <summary>envoy.config.listener.v3.FilterChainMatch: the SNI names a chain accepts (empty: any).</summary>
public sealed record FilterChainMatch(IReadOnlyList<string> ServerNames, string? TransportProtocol);

/// <summary>envoy.config.route.v3.RouteConfiguration.</summary>
public sealed record RouteConfiguration(string Name, IReadOnlyList<VirtualHost> VirtualHosts);

/// <summary>envoy.config.route.v3.VirtualHost: <see cref="Domains"/> are matched against the Host (exact, then longest suffix wildcard, then <c>*</c>).</summary>
public sealed record VirtualHost(string Name, IReadOnlyList<string> Domains, IReadOnlyList<Route> Routes);

/// <summary>
/// envoy.config.route.v3.Route: a match, then exactly one of <see cref="Route"/> (forward) or
/// <see cref="DirectResponse"/>; <see cref="Fault"/> is the route's <c>typed_per_filter_config</c> for
/// <c>envoy.filters.http.fault</c>.
/// </summary>
/// <param name="Metadata">Istio's <c>filter_metadata.istio.config</c>: the VirtualService the route came from (<c>/apis/networking.istio.io/v1/namespaces/…/virtual-service/…</c>).</param>
public sealed record Route(
    string? Name,
    RouteMatch Match,
    RouteAction? Action,
    DirectResponseAction? DirectResponse,
    HttpFault? Fault,
    HeaderOperations RequestHeaders,
    HeaderOperations ResponseHeaders,
    string Decorator,
    string? Metadata)
{
    /// <summary>The route's <c>redirect</c> action (then <see cref="Action"/> and <see cref="DirectResponse"/> are null).</summary>
    public RedirectAction? Redirect { get; init; }

    /// <summary>The route's <c>typed_per_filter_config</c> for <c>envoy.filters.http.cors</c>; null: no CORS policy.</summary>
    public CorsPolicy? Cors { get; init; }
}

/// <summary>
/// envoy.extensions.filters.http.cors.v3.CorsPolicy as istiod's route.go translateCORSPolicy writes it: the origins
/// (string matchers), methods, headers and exposed headers joined with <c>,</c>, max_age in seconds, allow_credentials
/// and forward_not_matching_preflights (Istio's unmatchedPreflights: FORWARD true, IGNORE false; null: Envoy's default,
/// true).
/// </summary>
public sealed record CorsPolicy(IReadOnlyList<StringMatcher> AllowOriginStringMatch, string? AllowMethods, string? AllowHeaders,
    string? ExposeHeaders, string? MaxAge, bool? AllowCredentials, bool? ForwardNotMatchingPreflights);

/// <summary>envoy.config.route.v3.RouteMatch. Exactly one of Prefix, Path, SafeRegex is set.</summary>
public sealed record RouteMatch(
    string? Prefix,
    string? Path,
    string? SafeRegex,
    bool CaseSensitive,
    IReadOnlyList<HeaderMatcher> Headers,
    IReadOnlyList<QueryParameterMatcher> QueryParameters);

/// <summary>envoy.type.matcher.v3.StringMatcher (exact | prefix | safe_regex).</summary>
public sealed record StringMatcher(string? Exact, string? Prefix, string? SafeRegex);

/// <summary>envoy.config.route.v3.HeaderMatcher; pseudo-headers <c>:authority</c>, <c>:method</c>, <c>:scheme</c> included.</summary>
/// <param name="PresentMatch">Set when Istio turns an empty-prefix/match-all into a presence check.</param>
public sealed record HeaderMatcher(string Name, StringMatcher? StringMatch, bool? PresentMatch, bool InvertMatch, bool TreatMissingHeaderAsEmpty);

/// <summary>envoy.config.route.v3.QueryParameterMatcher.</summary>
public sealed record QueryParameterMatcher(string Name, StringMatcher? StringMatch, bool? PresentMatch);

/// <summary>
/// envoy.config.route.v3.RouteAction: one cluster or <see cref="WeightedClusters"/>; a zero <see cref="Timeout"/>
/// disables the route timeout (Istio's default).
/// </summary>
public sealed record RouteAction(
    string? Cluster,
    WeightedCluster? WeightedClusters,
    string? HostRewriteLiteral,
    string? PrefixRewrite,
    TimeSpan Timeout,
    RetryPolicy? RetryPolicy)
{
    /// <summary>hash_policy: what a RING_HASH or MAGLEV cluster hashes (Istio: the destination's consistentHash key).</summary>
    public IReadOnlyList<HashPolicy> HashPolicy { get; init; } = [];

    /// <summary>request_mirror_policies: the clusters a copy of each request goes to, each for its share of requests.</summary>
    public IReadOnlyList<RequestMirrorPolicy> RequestMirrorPolicies { get; init; } = [];
}

/// <summary>
/// envoy.config.route.v3.RouteAction.RequestMirrorPolicy as route.go TranslateRequestMirrorPolicy writes it: the
/// <paramref name="Cluster"/>, the share as runtime_fraction's default (MILLION, Istio's percentage × 10 000) and
/// trace_sampled false.
/// </summary>
public sealed record RequestMirrorPolicy(string Cluster, FractionalPercent RuntimeFraction);

/// <summary>
/// envoy.config.route.v3.RouteAction.HashPolicy as route.go ConsistentHashToHashPolicy writes it: one of a request
/// <paramref name="Header"/>, a <paramref name="QueryParameter"/>, or the connection's source IP.
/// </summary>
public sealed record HashPolicy(string? Header, string? QueryParameter, bool SourceIp);

/// <summary>envoy.config.route.v3.WeightedCluster: a cluster is picked with probability weight / Σ weights (no fixed total since Envoy 1.23).</summary>
public sealed record WeightedCluster(IReadOnlyList<ClusterWeight> Clusters);

/// <summary>One weighted cluster; <see cref="HostRewriteLiteral"/> is Istio's per-destination Host (headers.request.set.host).</summary>
public sealed record ClusterWeight(
    string Name,
    int Weight,
    string? HostRewriteLiteral,
    HeaderOperations RequestHeaders,
    HeaderOperations ResponseHeaders);

/// <summary>
/// Envoy's <c>request_headers_to_add</c>/<c>_to_remove</c> (or the response ones). Each entry: header, value and
/// append action (<c>OVERWRITE_IF_EXISTS_OR_ADD</c> for Istio's <c>set</c>, <c>APPEND_IF_EXISTS_OR_ADD</c> for <c>add</c>).
/// </summary>
public sealed record HeaderOperations(IReadOnlyList<HeaderValueOption> ToAdd, IReadOnlyList<string> ToRemove)
{
    public static readonly HeaderOperations None = new([], []);

    public bool IsEmpty => ToAdd.Count == 0 && ToRemove.Count == 0;
}

/// <param name="Append">True: <c>APPEND_IF_EXISTS_OR_ADD</c>; false: <c>OVERWRITE_IF_EXISTS_OR_ADD</c>.</param>
public sealed record HeaderValueOption(string Key, string Value, bool Append);

/// <summary>
/// envoy.config.route.v3.RetryPolicy as Istio builds it (pilot/pkg/networking/core/route/retry/retry.go):
/// <see cref="RetryOn"/> is Envoy's comma-separated condition list, <see cref="NumRetries"/> retries after the first try.
/// </summary>
/// <param name="PerTryTimeout">Null: none (each try may use the whole route timeout).</param>
/// <param name="BaseInterval">retry_back_off.base_interval; Envoy's default 25 ms when null.</param>
public sealed record RetryPolicy(
    string RetryOn,
    int NumRetries,
    TimeSpan? PerTryTimeout,
    IReadOnlyList<int> RetriableStatusCodes,
    TimeSpan? BaseInterval,
    int HostSelectionRetryMaxAttempts,
    IReadOnlyList<string> RetryHostPredicates);

/// <summary>envoy.extensions.filters.http.fault.v3.HTTPFault (per route).</summary>
public sealed record HttpFault(FaultDelay? Delay, FaultAbort? Abort);

public sealed record FaultDelay(TimeSpan FixedDelay, FractionalPercent Percentage);

public sealed record FaultAbort(int HttpStatus, FractionalPercent Percentage);

/// <summary>envoy.type.v3.FractionalPercent: numerator / denominator (HUNDRED or MILLION). Istio writes <c>percentage.value</c> × 10 000 per MILLION.</summary>
public sealed record FractionalPercent(uint Numerator, string Denominator)
{
    public double Percent => Denominator == "MILLION" ? Numerator / 10_000d : Numerator;
}

/// <summary>
/// envoy.config.route.v3.RedirectAction as istiod's route.go ApplyRedirect writes it: <see cref="HostRedirect"/>,
/// <see cref="PathRedirect"/> or <see cref="PrefixRewrite"/>, <see cref="SchemeRedirect"/>, <see cref="PortRedirect"/>
/// (0: none) and the response code (301, 302, 303, 307 or 308).
/// </summary>
public sealed record RedirectAction(string? HostRedirect, string? PathRedirect, string? PrefixRewrite, string? SchemeRedirect,
    int PortRedirect, int ResponseCode);

/// <summary>envoy.config.route.v3.DirectResponseAction: Istio's <c>block_all</c> route is <c>{ status: 502 }</c>.</summary>
/// <param name="Body">The body's <c>inline_string</c>; null: none, or <see cref="InlineBytes"/>.</param>
public sealed record DirectResponseAction(int Status, string? Body)
{
    /// <summary>The body's <c>inline_bytes</c> (Istio's <c>body.bytes</c>), sent as they are.</summary>
    public byte[]? InlineBytes { get; init; }
}

/// <summary>
/// envoy.config.cluster.v3.Cluster named as Istio names it: <c>outbound|port|subset|host</c>. The local gateway
/// knows where each endpoint really is (EgressGateway:Upstreams); Host header and SNI stay the external names.
/// </summary>
/// <param name="Type">STRICT_DNS, EDS, STATIC, ORIGINAL_DST.</param>
/// <param name="Endpoints">The cluster's endpoints (load_assignment), each <c>host:port</c> with its labels.</param>
public sealed record Cluster(
    string Name,
    string Type,
    TimeSpan ConnectTimeout,
    IReadOnlyList<LbEndpoint> Endpoints,
    UpstreamTlsContext? TransportSocket,
    OutlierDetection? OutlierDetection,
    CircuitBreakers CircuitBreakers,
    ClusterMetadata Metadata)
{
    /// <summary>common_http_protocol_options.idle_timeout (Istio: connectionPool.http.idleTimeout); null: Envoy's 1 h.</summary>
    public TimeSpan? IdleTimeout { get; init; }

    /// <summary>common_http_protocol_options.max_connection_duration (connectionPool.tcp.maxConnectionDuration).</summary>
    public TimeSpan? MaxConnectionDuration { get; init; }

    /// <summary>common_lb_config.healthy_panic_threshold: Istio writes outlierDetection.minHealthPercent (0 unless set) when outlier detection is on.</summary>
    public int? MinHealthPercent { get; init; }

    public bool SplitExternalLocalOriginErrors { get; init; }

    public int? ConsecutiveLocalOriginFailure { get; init; }

    /// <summary>common_http_protocol_options.max_requests_per_connection (Istio: connectionPool.http.maxRequestsPerConnection); null unlimited.</summary>
    public int? MaxRequestsPerConnection { get; init; }

    /// <summary>typed_extension_protocol_options: HTTP/2 to the upstream (Istio: a port declared HTTP2 or GRPC).</summary>
    public bool Http2 { get; init; }

    /// <summary>use_downstream_protocol_config (Istio: connectionPool.http.useClientProtocol).</summary>
    public bool UseDownstreamProtocol { get; init; }

    /// <summary>ring_hash_lb_config.minimum_ring_size (Istio: consistentHash's minimumRingSize); null: Envoy's 1024.</summary>
    public long? MinimumRingSize { get; init; }

    /// <summary>
    /// lb_policy: <c>LEAST_REQUEST</c> (Istio's default, and LEAST_CONN), <c>ROUND_ROBIN</c> or <c>RANDOM</c> from the
    /// DestinationRule's loadBalancer.simple; <c>CLUSTER_PROVIDED</c> for an ORIGINAL_DST cluster
    /// (cluster_traffic_policy.go applyLoadBalancer).
    /// </summary>
    public string LbPolicy { get; init; } = "LEAST_REQUEST";
}

/// <summary>An endpoint of a cluster: address, port and the ServiceEntry endpoint's labels.</summary>
public sealed record LbEndpoint(string Address, int PortValue, IReadOnlyDictionary<string, string> Labels);

/// <summary>What Istio writes in a cluster's <c>metadata.filter_metadata.istio</c>: the service and subset it stands for.</summary>
public sealed record ClusterMetadata(string ServiceHost, int Port, string? Subset, string? ConfigSource);

/// <summary>
/// envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext: <see cref="Sni"/> and the SANs the server certificate
/// must carry (<c>match_typed_subject_alt_names</c>, DNS, exact). <see cref="IstioMutual"/>: Istio's own mTLS to a
/// mesh proxy (the egress gateway), with the workload certificate.
/// </summary>
/// <param name="TrustedCa">The CA bundle file the server is verified against ("system": the gateway's trust store);
/// null with a <see cref="ValidationSecret"/>: the secret was not supplied.</param>
public sealed record UpstreamTlsContext(
    string? Sni,
    IReadOnlyList<string> MatchSubjectAltNames,
    string? TrustedCa,
    bool IstioMutual,
    bool InsecureSkipVerify)
{
    /// <summary>
    /// The SDS secret a DestinationRule credentialName names for the validation context (<c>kubernetes://&lt;name&gt;-cacert</c>);
    /// null: a file-based CA (<see cref="TrustedCa"/>).
    /// </summary>
    public string? ValidationSecret { get; init; }

    /// <summary>
    /// The cluster's <c>upstream_http_protocol_options.auto_san_validation</c>: each connection's certificate must be
    /// for the request's Host, besides <see cref="MatchSubjectAltNames"/>. Istio's cluster_tls.go
    /// (setAutoSniAndAutoSanValidation, 1.22–1.30) sets it only with auto_sni — no <c>sni</c> in the rule — and then
    /// only when the rule has no <c>subjectAltNames</c> and no <c>insecureSkipVerify</c> (ENABLE_AUTO_SNI and, up to
    /// 1.23, VERIFY_CERTIFICATE_AT_CLIENT are on by default). With an explicit <c>sni</c> and no names anywhere,
    /// Envoy checks the chain only.
    /// </summary>
    public bool AutoSanValidation { get; init; }

    /// <summary>
    /// MUTUAL: the client certificate and key files (<c>tls_certificates</c>, or what the <see cref="CertificateSecret"/>
    /// holds); null: none presented.
    /// </summary>
    public (string Certificate, string Key)? ClientCertificate { get; init; }

    /// <summary>MUTUAL with a credentialName: the SDS secret of the client certificate (<c>kubernetes://&lt;name&gt;</c>).</summary>
    public string? CertificateSecret { get; init; }

    /// <summary>
    /// A credentialName whose Secret nothing supplies (its CA, or for MUTUAL its certificate and key): Envoy's transport
    /// socket is then NotReadySslSocket, whose every connection fails with "TLS error: Secret is not supplied by SDS"
    /// (envoy ssl_socket.cc).
    /// </summary>
    public bool SecretNotSupplied => (ValidationSecret is not null && TrustedCa is null && !InsecureSkipVerify)
        || (CertificateSecret is not null && ClientCertificate is null);
}

/// <summary>envoy.config.cluster.v3.OutlierDetection as Istio fills it (cluster_traffic_policy.go applyOutlierDetection).</summary>
/// <param name="Consecutive5xx">Null: Envoy's default 5 is not used by Istio — enforcing_consecutive_5xx is 0 unless set.</param>
/// <param name="MaxEjectionPercent">Envoy's default 10 when Istio leaves it unset.</param>
public sealed record OutlierDetection(
    int? Consecutive5xx,
    int? ConsecutiveGatewayFailure,
    TimeSpan Interval,
    TimeSpan BaseEjectionTime,
    int MaxEjectionPercent,
    int EnforcingConsecutive5xx,
    int EnforcingConsecutiveGatewayFailure);

/// <summary>envoy.config.cluster.v3.CircuitBreakers, default priority thresholds (Envoy's defaults 1024 each; Istio raises them to 2^32−1).</summary>
public sealed record CircuitBreakers(long MaxConnections, long MaxPendingRequests, long MaxRequests, long MaxRetries)
{
    /// <summary>track_remaining: Envoy then keeps the <c>circuit_breakers.default.remaining_*</c> gauges (see <see cref="Istio.IstioVersion.CircuitBreakersTrackRemaining"/>).</summary>
    public bool TrackRemaining { get; init; }
}
