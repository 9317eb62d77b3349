using System.Text.RegularExpressions;

namespace Demo.EgressGateway.Istio;

// The part of Istio's networking.istio.io API the local gateway honours, as the loader keeps it. IstioTranslator
// turns these into Envoy's configuration; fields the gateway cannot honour are refused by the loader.

public sealed record ResourceId(string Kind, string Name, string? Namespace, string File)
{
    /// <summary>The resource's apiVersion, e.g. <c>networking.istio.io/v1</c>.</summary>
    public string ApiVersion { get; init; } = "";

    public override string ToString() => $"{Kind} '{Name}'";
}

public abstract record IstioResource(ResourceId Id);

/// <summary>
/// A Sidecar resource (networking.istio.io Sidecar), the part that shapes a workload's outbound traffic:
/// <paramref name="WorkloadSelector"/> (empty: every workload of its namespace), the <c>egress[].hosts</c> it imports
/// (<c>namespace/dnsName</c>; empty: no egress section, i.e. <c>*/*</c>) and <c>outboundTrafficPolicy.mode</c>
/// (null: the mesh's).
/// </summary>
public sealed record Sidecar(
    ResourceId Id,
    IReadOnlyDictionary<string, string> WorkloadSelector,
    IReadOnlyList<string> EgressHosts,
    string? OutboundTrafficPolicyMode) : IstioResource(Id);

/// <param name="ExportTo">Namespaces that see it: <c>.</c> (its own), <c>*</c> (all, the default when empty) or names.</param>
/// <param name="Resolution">NONE, STATIC, DNS or DNS_ROUND_ROBIN (Envoy cluster type ORIGINAL_DST, STATIC, STRICT_DNS, LOGICAL_DNS).</param>
/// <param name="Endpoints">Explicit endpoints; empty: the hosts themselves (DNS).</param>
public sealed record ServiceEntry(
    ResourceId Id,
    IReadOnlyList<string> Hosts,
    IReadOnlyList<ServicePort> Ports,
    IReadOnlyList<string> ExportTo,
    string Resolution,
    IReadOnlyList<WorkloadEntry> Endpoints) : IstioResource(Id)
{
    /// <summary><c>addresses</c>: the service's virtual IPs or CIDR ranges (what the DNS proxy answers for its hosts; a TCP port's chain matches them).</summary>
    public IReadOnlyList<string> Addresses { get; init; } = [];

    public ServiceEntry(ResourceId id, IReadOnlyList<string> hosts, IReadOnlyList<ServicePort> ports)
        : this(id, hosts, ports, [], "DNS", [])
    {
    }

    /// <summary>SANs used for TLS origination when the DestinationRule lists none (Istio: external registry).</summary>
    public IReadOnlyList<string> SubjectAltNames { get; init; } = [];

    public string Location { get; init; } = "MESH_EXTERNAL";
}

/// <summary>
/// A ServiceEntry endpoint: address (a DNS name or IP), per-port-name target ports, labels (what subsets select).
/// Its <c>weight</c> is refused at load (<see cref="RefusedFields.EndpointWeight"/>).
/// </summary>
public sealed record WorkloadEntry(string Address, IReadOnlyDictionary<string, int> Ports, IReadOnlyDictionary<string, string> Labels);

public sealed record ServicePort(int Number, string? Name, string? Protocol)
{
    /// <summary>The port the endpoints listen on (Istio: targetPort), when it differs from <see cref="Number"/>.</summary>
    public int? TargetPort { get; init; }
}

public sealed record Gateway(ResourceId Id, IReadOnlyDictionary<string, string> Selector, IReadOnlyList<GatewayServer> Servers)
    : IstioResource(Id);

public sealed record GatewayServer(ServicePort Port, IReadOnlyList<string> Hosts, string? TlsMode)
{
    /// <summary>
    /// <c>tls.subjectAltNames</c>: the client certificate SANs the server accepts (exact matches; empty: any client
    /// certificate the CA signed). Read for the modes that validate a client (ISTIO_MUTUAL, MUTUAL, OPTIONAL_MUTUAL).
    /// </summary>
    public IReadOnlyList<string> SubjectAltNames { get; init; } = [];

    /// <summary>A SIMPLE, MUTUAL or OPTIONAL_MUTUAL server's own certificate and client CA; null for the other modes.</summary>
    public ServerCredentials? Credentials { get; init; }
}

/// <summary>
/// A Gateway server's TLS credentials: a <paramref name="CredentialName"/> (a Kubernetes Secret; locally
/// EgressGateway:Credentials) or PEM files (<paramref name="ServerCertificate"/>, <paramref name="PrivateKey"/>,
/// <paramref name="CaCertificates"/> for the client CA).
/// </summary>
public sealed record ServerCredentials(string? CredentialName, string? ServerCertificate, string? PrivateKey, string? CaCertificates);

public sealed record DestinationRule(ResourceId Id, string Host, TrafficPolicy? TrafficPolicy, IReadOnlyList<Subset> Subsets)
    : IstioResource(Id)
{
    /// <summary>Namespaces that see it (empty: all).</summary>
    public IReadOnlyList<string> ExportTo { get; init; } = [];

    /// <summary>
    /// <c>spec.workloadSelector.matchLabels</c>: null when the rule has no workloadSelector; otherwise the rule applies
    /// only to the proxies of its own namespace whose labels include these (empty: every proxy of the namespace), for
    /// outbound traffic (istio/istio pilot/pkg/model/sidecar.go <c>SidecarScope.DestinationRule</c>), and it is
    /// exported nowhere else (push_context.go <c>setDestinationRules</c>: its exportTo is <c>.</c>).
    /// </summary>
    public IReadOnlyDictionary<string, string>? WorkloadSelector { get; init; }
}

/// <summary>A subset: the endpoints whose labels include <see cref="Labels"/>, with its own traffic policy.</summary>
public sealed record Subset(string Name, TrafficPolicy? TrafficPolicy)
{
    public IReadOnlyDictionary<string, string> Labels { get; init; } = new Dictionary<string, string>();
}

public sealed record TrafficPolicy(
    ConnectionPool? ConnectionPool,
    OutlierDetection? OutlierDetection,
    ClientTls? Tls,
    IReadOnlyList<PortTrafficPolicy> PortLevelSettings)
{
    /// <summary>The loadBalancer block; null: none.</summary>
    public LoadBalancerSettings? LoadBalancer { get; init; }
}

/// <summary>
/// A DestinationRule's <c>loadBalancer</c>: <paramref name="Simple"/> (UNSPECIFIED when the block has none) or
/// <paramref name="ConsistentHash"/>.
/// </summary>
public sealed record LoadBalancerSettings(string Simple, ConsistentHash? ConsistentHash);

/// <summary>
/// <c>loadBalancer.consistentHash</c>: the one hash key — <paramref name="HttpHeaderName"/>,
/// <paramref name="HttpQueryParameterName"/> or <paramref name="UseSourceIp"/> — and the ring's
/// <paramref name="MinimumRingSize"/> (<c>ringHash.minimumRingSize</c>, or the deprecated top-level one; null: Envoy's
/// 1024), or <paramref name="Maglev"/> for Maglev.
/// </summary>
public sealed record ConsistentHash(string? HttpHeaderName, string? HttpQueryParameterName, bool UseSourceIp, long? MinimumRingSize, bool Maglev)
{
    /// <summary><c>httpCookie</c>: hash a cookie's value; null: another key.</summary>
    public HttpCookie? HttpCookie { get; init; }
}

/// <summary>
/// consistentHash.httpCookie: the cookie <paramref name="Name"/>; with a <paramref name="Ttl"/> (0: a session cookie) the
/// proxy sets one on a request that has none; <paramref name="Path"/> and <paramref name="Attributes"/> go on that cookie.
/// </summary>
public sealed record HttpCookie(string Name, string? Path, TimeSpan? Ttl, IReadOnlyList<KeyValuePair<string, string?>> Attributes);

/// <summary>A port-level traffic policy, or a whole policy resolved for one port (<see cref="TrafficPolicies"/>).</summary>
public sealed record PortTrafficPolicy(int Port, ConnectionPool? ConnectionPool, OutlierDetection? OutlierDetection, ClientTls? Tls)
{
    /// <summary>The loadBalancer block; null: none.</summary>
    public LoadBalancerSettings? LoadBalancer { get; init; }
}

public sealed record ClientTls(
    string Mode,
    string? Sni,
    IReadOnlyList<string> SubjectAltNames,
    bool InsecureSkipVerify,
    string? CaCertificates,
    string? CredentialName,
    string Field)
{
    /// <summary><c>clientCertificate</c>: the PEM client certificate file of a MUTUAL rule without credentialName.</summary>
    public string? ClientCertificate { get; init; }

    /// <summary><c>privateKey</c>: the PEM private key file of <see cref="ClientCertificate"/>.</summary>
    public string? PrivateKey { get; init; }
}

public sealed record ConnectionPool(int? MaxConnections, TimeSpan? ConnectTimeout, int? Http1MaxPendingRequests, int? Http2MaxRequests)
{
    /// <summary>http.maxRetries: concurrent retries to the cluster (Envoy's max_retries circuit breaker).</summary>
    public int? MaxRetries { get; init; }

    /// <summary>http.idleTimeout: how long an idle upstream connection is kept.</summary>
    public TimeSpan? IdleTimeout { get; init; }

    /// <summary>http.maxRequestsPerConnection: 0 or null unlimited; 1 closes the connection after each request.</summary>
    public int? MaxRequestsPerConnection { get; init; }

    /// <summary>http.useClientProtocol: speak upstream the protocol the client spoke.</summary>
    public bool UseClientProtocol { get; init; }

    /// <summary>tcp.maxConnectionDuration: the longest an upstream connection lives.</summary>
    public TimeSpan? MaxConnectionDuration { get; init; }
}

public sealed record OutlierDetection(
    int? Consecutive5xxErrors,
    int? ConsecutiveGatewayErrors,
    TimeSpan? Interval,
    TimeSpan? BaseEjectionTime,
    int? MaxEjectionPercent)
{
    /// <summary>Deprecated; Istio accepts it with a warning and no longer translates it.</summary>
    public int? ConsecutiveErrors { get; init; }

    /// <summary>Envoy's healthy_panic_threshold; Istio writes 0 unless set.</summary>
    public int? MinHealthPercent { get; init; }

    public bool SplitExternalLocalOriginErrors { get; init; }

    public int? ConsecutiveLocalOriginFailures { get; init; }
}

public sealed record VirtualService(
    ResourceId Id,
    IReadOnlyList<string> Hosts,
    IReadOnlyList<string> Gateways,
    IReadOnlyList<HttpRoute> Http) : IstioResource(Id)
{
    /// <summary>Namespaces that see it (empty: all).</summary>
    public IReadOnlyList<string> ExportTo { get; init; } = [];

    /// <summary>The <c>tls</c> routes: TLS passed through, chosen by SNI.</summary>
    public IReadOnlyList<TlsRoute> Tls { get; init; } = [];

    /// <summary>The <c>tcp</c> routes: connections passed through, chosen by port.</summary>
    public IReadOnlyList<TcpRoute> Tcp { get; init; } = [];
}

/// <summary>A VirtualService <c>tcp</c> route: its matches (none: any connection) and its weighted destinations.</summary>
public sealed record TcpRoute(int Index, IReadOnlyList<L4Match> Match, IReadOnlyList<RouteDestination> Route);

/// <summary>A <c>tcp</c> route's match (L4MatchAttributes): the port and the gateways (<c>mesh</c> for sidecars).</summary>
public sealed record L4Match(int? Port, IReadOnlyList<string> Gateways)
{
    public IReadOnlyDictionary<string, string> SourceLabels { get; init; } = new Dictionary<string, string>();

    public string? SourceNamespace { get; init; }
}

/// <summary>A VirtualService <c>tls</c> route: its matches (any may apply) and its weighted destinations.</summary>
public sealed record TlsRoute(int Index, IReadOnlyList<TlsMatch> Match, IReadOnlyList<RouteDestination> Route);

/// <summary>A <c>tls</c> route's match: SNI names (wildcards allowed), the port, the gateways (<c>mesh</c> for sidecars).</summary>
public sealed record TlsMatch(IReadOnlyList<string> SniHosts, int? Port, IReadOnlyList<string> Gateways)
{
    public IReadOnlyDictionary<string, string> SourceLabels { get; init; } = new Dictionary<string, string>();

    public string? SourceNamespace { get; init; }
}

public sealed record HttpRoute(
    int Index,
    string? Name,
    IReadOnlyList<HttpMatch> Match,
    IReadOnlyList<RouteDestination> Route,
    string? RewriteAuthority,
    string? RewriteUri,
    TimeSpan? Timeout,
    HttpRetry? Retries,
    HttpFault? Fault,
    Headers? Headers)
{
    public string Field => $"spec.http[{Index}]";

    /// <summary><c>redirect</c>: the route answers with a redirect instead of forwarding (then <see cref="Route"/> is empty).</summary>
    public HttpRedirect? Redirect { get; init; }

    /// <summary><c>directResponse</c>: the route answers itself (then <see cref="Route"/> is empty).</summary>
    public HttpDirectResponse? DirectResponse { get; init; }

    /// <summary><c>corsPolicy</c>: the CORS policy of the route (Envoy's CORS filter).</summary>
    public CorsPolicy? CorsPolicy { get; init; }

    /// <summary><c>mirror</c> (with <c>mirrorPercentage</c>) or <c>mirrors</c>: where the route's requests are copied.</summary>
    public IReadOnlyList<HttpMirror> Mirrors { get; init; } = [];
}

/// <summary>One mirror of a route: the destination the copy goes to and the share of requests copied (0–100; null: 100).</summary>
public sealed record HttpMirror(Destination Destination, double? Percentage)
{
    /// <summary>Where the mirror's destination is in its file: <c>spec.http[i].mirror</c> or <c>spec.http[i].mirrors[j].destination</c>.</summary>
    public string Field { get; init; } = "";
}

/// <summary>
/// VirtualService <c>http[].corsPolicy</c>: the allowed origins (<c>allowOrigins</c> string matches, and the deprecated
/// <c>allowOrigin</c> exact strings), methods, headers, exposed headers, <paramref name="MaxAge"/> (whole seconds),
/// <paramref name="AllowCredentials"/> and <paramref name="UnmatchedPreflights"/> (<c>FORWARD</c>, the default, or
/// <c>IGNORE</c>).
/// </summary>
public sealed record CorsPolicy(IReadOnlyList<StringMatch> AllowOrigins, IReadOnlyList<string> AllowMethods,
    IReadOnlyList<string> AllowHeaders, IReadOnlyList<string> ExposeHeaders, TimeSpan? MaxAge, bool? AllowCredentials,
    string? UnmatchedPreflights);

/// <summary>
/// VirtualService <c>http[].redirect</c>: <paramref name="Uri"/> for the path, <paramref name="Authority"/>, <paramref name="Scheme"/> (http/https), a fixed <paramref name="Port"/> or
/// <paramref name="DerivePort"/> (<c>FROM_PROTOCOL_DEFAULT</c>, <c>FROM_REQUEST_PORT</c>), and
/// <paramref name="RedirectCode"/> (3xx; null: 301).
/// </summary>
public sealed record HttpRedirect(string? Uri, string? Authority, string? Scheme, int? Port,
    string? DerivePort, int? RedirectCode);

/// <summary>VirtualService <c>http[].directResponse</c>: a status (200–599) and an optional body — <c>body.string</c>, or <c>body.bytes</c> (base64 in the YAML) as <paramref name="BodyBytes"/>.</summary>
public sealed record HttpDirectResponse(int Status, string? Body, byte[]? BodyBytes = null);

public sealed record HttpMatch(
    StringMatch? Uri,
    StringMatch? Scheme,
    StringMatch? Method,
    StringMatch? Authority,
    IReadOnlyList<KeyValuePair<string, StringMatch>> Headers,
    IReadOnlyList<KeyValuePair<string, StringMatch>> WithoutHeaders,
    IReadOnlyList<KeyValuePair<string, StringMatch>> QueryParams,
    int? Port,
    IReadOnlyList<string> Gateways,
    bool IgnoreUriCase)
{
    /// <summary>match.name: appended to the route's name (<c>route.match</c>) in Envoy.</summary>
    public string? Name { get; init; }

    public IReadOnlyDictionary<string, string> SourceLabels { get; init; } = new Dictionary<string, string>();

    public string? SourceNamespace { get; init; }
}

public enum StringMatchKind { Exact, Prefix, Regex }

/// <summary>
/// Istio's StringMatch as written: exact, prefix or regex (<see cref="Regex"/> is the loader's check that the pattern
/// compiles; the data plane matches with the Envoy matchers the translator writes).
/// </summary>
public sealed record StringMatch(StringMatchKind Kind, string Value, Regex? Regex);

public sealed record RouteDestination(Destination Destination, int? Weight, Headers? Headers, string Field);

public sealed record Destination(string Host, string? Subset, int? Port);

public sealed record Headers(HeaderOperations? Request, HeaderOperations? Response);

public sealed record HeaderOperations(
    IReadOnlyList<KeyValuePair<string, string>> Set,
    IReadOnlyList<KeyValuePair<string, string>> Add,
    IReadOnlyList<string> Remove);

public sealed record HttpRetry(int Attempts, TimeSpan? PerTryTimeout, string? RetryOn, TimeSpan? Backoff)
{
    /// <summary>retryIgnorePreviousHosts; null keeps Istio's default (retry on other hosts).</summary>
    public bool? RetryIgnorePreviousHosts { get; init; }
}

public sealed record HttpFault(FaultDelay? Delay, FaultAbort? Abort);

/// <param name="Percentage">0–100; null when neither percentage nor the deprecated percent is given (Envoy then injects on no request).</param>
public sealed record FaultDelay(TimeSpan FixedDelay, double? Percentage)
{
    /// <summary>Given as the deprecated integer <c>percent</c> (Istio writes it per HUNDRED, not per MILLION).</summary>
    public bool IntegerPercent { get; init; }
}

/// <param name="Percentage">0–100; null when not given (Envoy then aborts no request).</param>
public sealed record FaultAbort(int HttpStatus, double? Percentage);

/// <summary>
/// The traffic policy Istio applies to one port of a destination (and subset), as
/// <c>pilot/pkg/networking/util/util.go</c> MergeSubsetTrafficPolicy / GetPortLevelTrafficPolicy compute it: a
/// matching <c>portLevelSettings</c> entry replaces the whole policy for that port — fields it leaves out fall back to
/// defaults, they are not inherited — and a subset's policy overrides field by field (all of them when the subset has
/// a matching port-level entry).
/// </summary>
public static class TrafficPolicies
{
    public static PortTrafficPolicy? Effective(TrafficPolicy? rulePolicy, TrafficPolicy? subsetPolicy, int port)
    {
        var original = ForPort(rulePolicy, port, out _);
        if (subsetPolicy is null)
        {
            return original;
        }
        var subset = ForPort(subsetPolicy, port, out var hasPortLevel);
        if (original is null)
        {
            return subset;
        }
        return new PortTrafficPolicy(
            port,
            subset!.ConnectionPool is not null || hasPortLevel ? subset.ConnectionPool : original.ConnectionPool,
            subset.OutlierDetection is not null || hasPortLevel ? subset.OutlierDetection : original.OutlierDetection,
            subset.Tls is not null || hasPortLevel ? subset.Tls : original.Tls)
        {
            // destination_rule.go MergeTrafficPolicy: loadBalancer is overridden like the other blocks.
            LoadBalancer = subset.LoadBalancer is not null || hasPortLevel ? subset.LoadBalancer : original.LoadBalancer,
        };
    }

    /// <summary>The port-level entry for <paramref name="port"/> as a whole policy, else the top-level policy.</summary>
    public static PortTrafficPolicy? ForPort(TrafficPolicy? policy, int port, out bool hasPortLevel)
    {
        hasPortLevel = false;
        if (policy is null)
        {
            return null;
        }
        foreach (var setting in policy.PortLevelSettings)
        {
            if (setting.Port == port)
            {
                hasPortLevel = true;
                return setting;
            }
        }
        return new PortTrafficPolicy(port, policy.ConnectionPool, policy.OutlierDetection, policy.Tls) { LoadBalancer = policy.LoadBalancer };
    }
}
