using System.Text.Json.Serialization;

namespace Demo.EgressGateway.Envoy;

// Route configurations as envoy.config.route.v3 nests them: virtual hosts → routes (match; route, redirect or
// direct_response; header operations; decorator; Istio's metadata; the fault and CORS filters' per-route config).

/// <summary>envoy.config.route.v3.RouteConfiguration, with the route-configuration flags istiod sets (httproute.go).</summary>
public sealed record RouteConfiguration(string Name, IReadOnlyList<VirtualHost> VirtualHosts)
{
    [JsonPropertyName("@type"), JsonPropertyOrder(-1)]
    public string TypeUrl => "type.googleapis.com/envoy.config.route.v3.RouteConfiguration";

    /// <summary>validate_clusters: istiod writes false (a route may name a cluster not pushed yet).</summary>
    public bool? ValidateClusters { get; init; } = false;

    /// <summary>max_direct_response_body_size_bytes: istiod raises Envoy's 4 KiB to 1 MiB.</summary>
    public uint? MaxDirectResponseBodySizeBytes { get; init; } = 1_048_576;

    /// <summary>ignore_port_in_host_matching: istiod writes the domains without ports and sets this.</summary>
    public bool IgnorePortInHostMatching { get; init; } = true;
}

/// <summary>envoy.config.route.v3.VirtualHost: <see cref="Domains"/> are matched against the Host (exact, then longest suffix wildcard, then <c>*</c>).</summary>
public sealed record VirtualHost(string Name, IReadOnlyList<string> Domains, IReadOnlyList<Route> Routes)
{
    /// <summary>include_request_attempt_count: istiod sets it (x-envoy-attempt-count upstream).</summary>
    public bool IncludeRequestAttemptCount { get; init; } = true;
}

/// <summary>
/// envoy.config.route.v3.Route: a match, then exactly one of <see cref="Action"/> (<c>route</c>: forward),
/// <see cref="Redirect"/> or <see cref="DirectResponse"/>; header operations; the decorator (the span's operation);
/// Istio's <c>filter_metadata.istio.config</c> (the VirtualService it came from,
/// <c>/apis/networking.istio.io/v1/namespaces/…/virtual-service/…</c>); the fault and CORS filters' per-route config.
/// </summary>
public sealed record Route(string? Name, RouteMatch Match)
{
    /// <summary>The proto's <c>route</c>: forward to a cluster or weighted clusters; null for a redirect or direct response.</summary>
    [JsonPropertyName("route")]
    public RouteAction? Action { get; init; }

    /// <summary>redirect: answer with a redirect (no upstream).</summary>
    public RedirectAction? Redirect { get; init; }

    /// <summary>direct_response: answer with a status and body (no upstream; Istio's block_all).</summary>
    public DirectResponseAction? DirectResponse { get; init; }

    /// <summary>metadata.filter_metadata.istio: the VirtualService's config path; null for routes istiod makes itself.</summary>
    public Metadata<RouteIstioMetadata>? Metadata { get; init; }

    /// <summary>decorator; null: none (the span is named after the Host and port).</summary>
    public Decorator? Decorator { get; init; }

    /// <summary>typed_per_filter_config: the fault and CORS filters' configuration for this route; null: none.</summary>
    public TypedPerFilterConfig? TypedPerFilterConfig { get; init; }

    /// <summary>request_headers_to_add: Istio's <c>set</c> (OVERWRITE_IF_EXISTS_OR_ADD) then <c>add</c> (APPEND_IF_EXISTS_OR_ADD), each sorted by name.</summary>
    public IReadOnlyList<HeaderValueOption> RequestHeadersToAdd { get; init; } = [];

    /// <summary>request_headers_to_remove (Istio's <c>remove</c>; pseudo-headers and Host left out).</summary>
    public IReadOnlyList<string> RequestHeadersToRemove { get; init; } = [];

    /// <summary>response_headers_to_add, as <see cref="RequestHeadersToAdd"/> for the response.</summary>
    public IReadOnlyList<HeaderValueOption> ResponseHeadersToAdd { get; init; } = [];

    /// <summary>response_headers_to_remove.</summary>
    public IReadOnlyList<string> ResponseHeadersToRemove { get; init; } = [];

    /// <summary>The fault filter's per-route config; null: none.</summary>
    [JsonIgnore]
    public HttpFault? Fault => TypedPerFilterConfig?.Fault;

    /// <summary>The CORS filter's per-route config; null: no CORS policy.</summary>
    [JsonIgnore]
    public CorsPolicy? Cors => TypedPerFilterConfig?.Cors;

    /// <summary>The VirtualService's config path from Istio's metadata; null: a route istiod made itself.</summary>
    [JsonIgnore]
    public string? ConfigSource => Metadata?.Istio.Config;
}

/// <summary>envoy.config.route.v3.Decorator: the operation name of the proxy's span (route.go GetRouteOperation).</summary>
public sealed record Decorator(string Operation);

/// <summary>The route's <c>filter_metadata.istio</c>: the config path of the VirtualService.</summary>
public sealed record RouteIstioMetadata(string Config);

/// <summary>Route.typed_per_filter_config: the fault filter's HTTPFault and the CORS filter's CorsPolicy, by filter name.</summary>
public sealed record TypedPerFilterConfig(
    [property: JsonPropertyName("envoy.filters.http.fault")] HttpFault? Fault,
    [property: JsonPropertyName("envoy.filters.http.cors")] CorsPolicy? Cors);

/// <summary>envoy.config.route.v3.RouteMatch: exactly one of prefix, path, safe_regex; <c>case_sensitive</c> false only for Istio's ignoreUriCase.</summary>
public sealed record RouteMatch(
    string? Prefix,
    string? Path,
    RegexMatcher? SafeRegex,
    bool? CaseSensitive,
    IReadOnlyList<HeaderMatcher> Headers,
    IReadOnlyList<QueryParameterMatcher> QueryParameters)
{
    /// <summary>Whether the path is compared case-sensitively (the proto's default, true, when unset).</summary>
    [JsonIgnore]
    public bool IsCaseSensitive => CaseSensitive != false;
}

/// <summary>envoy.config.route.v3.HeaderMatcher; pseudo-headers <c>:authority</c>, <c>:method</c>, <c>:scheme</c> included.</summary>
/// <param name="PresentMatch">Set when Istio turns a regex <c>*</c> into a presence check.</param>
public sealed record HeaderMatcher(string Name, StringMatcher? StringMatch, bool? PresentMatch, bool InvertMatch, bool TreatMissingHeaderAsEmpty);

/// <summary>envoy.config.route.v3.QueryParameterMatcher.</summary>
public sealed record QueryParameterMatcher(string Name, StringMatcher? StringMatch, bool? PresentMatch);

/// <summary>
/// envoy.config.route.v3.RouteAction: one <see cref="Cluster"/> or <see cref="WeightedClusters"/>; a zero
/// <see cref="Timeout"/> disables the route timeout (Istio's default); Istio copies it to max_grpc_timeout.
/// </summary>
public sealed record RouteAction(
    string? Cluster,
    WeightedCluster? WeightedClusters,
    string? HostRewriteLiteral,
    string? PrefixRewrite,
    TimeSpan Timeout,
    RetryPolicy? RetryPolicy)
{
    /// <summary>max_grpc_timeout: istiod writes the route timeout here too.</summary>
    public TimeSpan MaxGrpcTimeout => Timeout;

    /// <summary>hash_policy: what a RING_HASH or MAGLEV cluster hashes (Istio: the destination's consistentHash key).</summary>
    public IReadOnlyList<HashPolicy> HashPolicy { get; init; } = [];

    /// <summary>request_mirror_policies: the clusters a copy of each request goes to, each for its share of requests.</summary>
    public IReadOnlyList<RequestMirrorPolicy> RequestMirrorPolicies { get; init; } = [];
}

/// <summary>
/// envoy.config.route.v3.RouteAction.RequestMirrorPolicy as route.go TranslateRequestMirrorPolicy writes it: the
/// cluster, the share as runtime_fraction's default (MILLION, Istio's percentage × 10 000) and trace_sampled false.
/// </summary>
public sealed record RequestMirrorPolicy(string Cluster, RuntimeFractionalPercent RuntimeFraction)
{
    public bool? TraceSampled { get; init; } = false;
}

/// <summary>envoy.config.core.v3.RuntimeFractionalPercent: the default share (no runtime key).</summary>
public sealed record RuntimeFractionalPercent(FractionalPercent DefaultValue);

/// <summary>
/// envoy.config.route.v3.RouteAction.HashPolicy as route.go ConsistentHashToHashPolicy writes it: one of a request
/// header, a query parameter, the connection's source IP, or a cookie.
/// </summary>
public sealed record HashPolicy(HeaderHashPolicy? Header, QueryParameterHashPolicy? QueryParameter, ConnectionPropertiesHashPolicy? ConnectionProperties)
{
    public CookieHashPolicy? Cookie { get; init; }
}

/// <summary>
/// HashPolicy.Cookie (Istio's httpCookie): hash the cookie's value; with a <see cref="Ttl"/> the router sets the cookie
/// on a request that has none (0: a session cookie), with <see cref="Path"/> and <see cref="Attributes"/>.
/// </summary>
public sealed record CookieHashPolicy(string Name, TimeSpan? Ttl, string? Path)
{
    public IReadOnlyList<CookieAttribute> Attributes { get; init; } = [];
}

/// <summary>HashPolicy.CookieAttribute: an attribute of the generated cookie (a name, and a value or none).</summary>
public sealed record CookieAttribute(string Name, string? Value);

/// <summary>HashPolicy.Header: hash the value of a request header (Istio's httpHeaderName).</summary>
public sealed record HeaderHashPolicy(string HeaderName);

/// <summary>HashPolicy.QueryParameter: hash the value of a query parameter (Istio's httpQueryParameterName).</summary>
public sealed record QueryParameterHashPolicy(string Name);

/// <summary>HashPolicy.ConnectionProperties: hash the downstream source IP (Istio's useSourceIp).</summary>
public sealed record ConnectionPropertiesHashPolicy(bool SourceIp);

/// <summary>envoy.config.route.v3.WeightedCluster: a cluster is picked with probability weight / Σ weights (no fixed total since Envoy 1.23).</summary>
public sealed record WeightedCluster(IReadOnlyList<ClusterWeight> Clusters);

/// <summary>One weighted cluster; <see cref="HostRewriteLiteral"/> is Istio's per-destination Host (headers.request.set.host).</summary>
public sealed record ClusterWeight(string Name, int Weight, string? HostRewriteLiteral)
{
    /// <summary>request_headers_to_add of this destination (Istio's per-destination headers), applied before the route's.</summary>
    public IReadOnlyList<HeaderValueOption> RequestHeadersToAdd { get; init; } = [];

    /// <summary>request_headers_to_remove (Istio's <c>remove</c>; pseudo-headers and Host left out).</summary>
    public IReadOnlyList<string> RequestHeadersToRemove { get; init; } = [];

    /// <summary>response_headers_to_add, as <see cref="RequestHeadersToAdd"/> for the response.</summary>
    public IReadOnlyList<HeaderValueOption> ResponseHeadersToAdd { get; init; } = [];

    /// <summary>response_headers_to_remove.</summary>
    public IReadOnlyList<string> ResponseHeadersToRemove { get; init; } = [];
}

/// <summary>envoy.config.core.v3.HeaderValueOption: the header and its append_action.</summary>
/// <param name="AppendAction"><c>OVERWRITE_IF_EXISTS_OR_ADD</c> (Istio's <c>set</c>) or <c>APPEND_IF_EXISTS_OR_ADD</c> (<c>add</c>).</param>
public sealed record HeaderValueOption(HeaderValue Header, string AppendAction)
{
    public const string Overwrite = "OVERWRITE_IF_EXISTS_OR_ADD";
    public const string AppendIfExists = "APPEND_IF_EXISTS_OR_ADD";

    [JsonIgnore]
    public bool Append => AppendAction == AppendIfExists;
}

/// <summary>envoy.config.core.v3.HeaderValue.</summary>
public sealed record HeaderValue(string Key, string Value);

/// <summary>
/// envoy.config.route.v3.RetryPolicy as Istio builds it (pilot/pkg/networking/core/route/retry/retry.go):
/// <see cref="RetryOn"/> is Envoy's comma-separated condition list, <see cref="NumRetries"/> retries after the first try.
/// </summary>
/// <param name="PerTryTimeout">Null: none (each try may use the whole route timeout).</param>
public sealed record RetryPolicy(
    string RetryOn,
    int NumRetries,
    TimeSpan? PerTryTimeout,
    IReadOnlyList<RetryHostPredicate> RetryHostPredicate,
    long HostSelectionRetryMaxAttempts,
    IReadOnlyList<int> RetriableStatusCodes,
    RetryBackOff? RetryBackOff)
{
    /// <summary>retry_back_off.base_interval; null: Envoy's default 25 ms.</summary>
    [JsonIgnore]
    public TimeSpan? BaseInterval => RetryBackOff?.BaseInterval;
}

/// <summary>RetryPolicy.RetryHostPredicate by name (Istio: <c>envoy.retry_host_predicates.previous_hosts</c>).</summary>
public sealed record RetryHostPredicate(string Name);

/// <summary>RetryPolicy.RetryBackOff: the base interval (the max is 10 × base).</summary>
public sealed record RetryBackOff(TimeSpan BaseInterval);

/// <summary>envoy.extensions.filters.http.fault.v3.HTTPFault (per route).</summary>
public sealed record HttpFault(FaultDelay? Delay, FaultAbort? Abort)
{
    [JsonPropertyName("@type"), JsonPropertyOrder(-1)]
    public string TypeUrl => "type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault";
}

/// <summary>envoy.extensions.filters.common.fault.v3.FaultDelay: a fixed delay for the given share of requests.</summary>
public sealed record FaultDelay(TimeSpan FixedDelay, FractionalPercent Percentage);

/// <summary>envoy.extensions.filters.http.fault.v3.FaultAbort: answer with the status for the given share of requests.</summary>
public sealed record FaultAbort(int HttpStatus, FractionalPercent Percentage);

/// <summary>
/// envoy.extensions.filters.http.cors.v3.CorsPolicy as istiod's route.go translateCORSPolicy writes it: the origins
/// (string matchers), methods, headers and exposed headers joined with <c>,</c>, max_age in seconds, allow_credentials
/// and forward_not_matching_preflights (Istio's unmatchedPreflights: FORWARD true, IGNORE false; null: Envoy's default,
/// true).
/// </summary>
public sealed record CorsPolicy(IReadOnlyList<StringMatcher> AllowOriginStringMatch, string? AllowMethods, string? AllowHeaders,
    string? ExposeHeaders, string? MaxAge, bool? AllowCredentials, bool? ForwardNotMatchingPreflights)
{
    [JsonPropertyName("@type"), JsonPropertyOrder(-1)]
    public string TypeUrl => "type.googleapis.com/envoy.extensions.filters.http.cors.v3.CorsPolicy";
}

/// <summary>
/// envoy.config.route.v3.RedirectAction as istiod's route.go ApplyRedirect writes it: host_redirect, path_redirect or
/// prefix_rewrite, scheme_redirect, port_redirect (null: none) and response_code (an enum name; null:
/// MOVED_PERMANENTLY, 301).
/// </summary>
public sealed record RedirectAction(string? HostRedirect, string? PathRedirect, string? PrefixRewrite, string? SchemeRedirect,
    int? PortRedirect, string? ResponseCode)
{
    /// <summary>The HTTP status the response_code enum stands for (301, 302, 303, 307 or 308).</summary>
    [JsonIgnore]
    public int Status => ResponseCode switch
    {
        "FOUND" => 302,
        "SEE_OTHER" => 303,
        "TEMPORARY_REDIRECT" => 307,
        "PERMANENT_REDIRECT" => 308,
        _ => 301,
    };

    /// <summary>The response_code enum name for an HTTP status; null for 301 (the proto's default).</summary>
    public static string? ResponseCodeOf(int status) => status switch
    {
        302 => "FOUND",
        303 => "SEE_OTHER",
        307 => "TEMPORARY_REDIRECT",
        308 => "PERMANENT_REDIRECT",
        _ => null,
    };
}

/// <summary>envoy.config.route.v3.DirectResponseAction: Istio's <c>block_all</c> route is <c>{ status: 502 }</c>.</summary>
/// <param name="Body">inline_string (Istio's <c>body.string</c>) or inline_bytes (<c>body.bytes</c>, sent as they are); null: no body.</param>
public sealed record DirectResponseAction(int Status, DataSource? Body);

/// <summary>
/// One direction's header operations of a <see cref="Route"/> or <see cref="ClusterWeight"/>: its
/// <c>*_headers_to_add</c> and <c>*_headers_to_remove</c> fields, taken together (not a proto message).
/// </summary>
public sealed record HeaderOperations(IReadOnlyList<HeaderValueOption> ToAdd, IReadOnlyList<string> ToRemove)
{
    public static readonly HeaderOperations None = new([], []);

    public bool IsEmpty => ToAdd.Count == 0 && ToRemove.Count == 0;

    public static HeaderOperations Request(Route route) => new(route.RequestHeadersToAdd, route.RequestHeadersToRemove);

    public static HeaderOperations Response(Route route) => new(route.ResponseHeadersToAdd, route.ResponseHeadersToRemove);

    public static HeaderOperations Request(ClusterWeight weight) => new(weight.RequestHeadersToAdd, weight.RequestHeadersToRemove);

    public static HeaderOperations Response(ClusterWeight weight) => new(weight.ResponseHeadersToAdd, weight.ResponseHeadersToRemove);
}
