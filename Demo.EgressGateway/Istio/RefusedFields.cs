using System.Text.Json;

namespace Demo.EgressGateway.Istio;

/// <summary>
/// A field (or some values of a field) that Istio accepts and the local egress gateway refuses at load, because it
/// does not reproduce what Envoy would do with it. The loader refuses only through these (<see cref="RefusedFields"/>),
/// checking each against the parsed document by its path, and docs/conformance.md, section "Refused at load", lists
/// exactly them (checked by the conformance suite).
/// </summary>
/// <param name="Kind">The resource kind, or <c>any</c> for a document of any kind.</param>
/// <param name="Field">
/// The field's path in its resource, list items written <c>[]</c>: <c>spec.http[].redirect</c>. A field under
/// <c>spec.trafficPolicy</c> is refused the same way in <c>subsets[].trafficPolicy</c> and in
/// <c>portLevelSettings[]</c> where Istio has it there.
/// </param>
/// <param name="Refused">Which values are refused, as the documentation states it: <c>any</c>, or the values (in backticks).</param>
/// <param name="Message">
/// The diagnostic's message after the field's path; <c>&lt;value&gt;</c> stands for the value found (see <see cref="MessageFor"/>).
/// </param>
public sealed record RefusedField(string Kind, string Field, string Refused, string Message)
{
    /// <summary>The message for the value the loader found.</summary>
    public string MessageFor(string value) => Message.Replace("<value>", value, StringComparison.Ordinal);

    /// <summary>
    /// Which values are refused: given the value and the object that holds it, the value as the message names it, or
    /// null for a value the gateway accepts. Null: every value is refused.
    /// </summary>
    internal Func<JsonElement, JsonElement, string?>? Values { get; init; }

    /// <summary>Other paths the same field is refused at, written as <see cref="Field"/> is.</summary>
    public IReadOnlyList<string> AlsoAt { get; init; } = [];
}

/// <summary>
/// Every field Istio accepts that the local egress gateway refuses at load: the single list the loader refuses from
/// (<see cref="Check"/>, by path on the parsed document) and that docs/conformance.md reproduces row by row.
/// </summary>
public static partial class RefusedFields
{
    private static RefusedField AnyValue(string kind, string field, string why) =>
        new(kind, field, "any", $"is not supported by the local egress gateway ({why})");

    // A port protocol the gateway does not handle (Istio's validation.go ValidateProtocol accepts more: UDP, Redis, ...).
    private static RefusedField PortProtocol(string kind, string field) =>
        new(kind, field, $"`UDP`, and any but {HandledProtocols}", $"must be one of {HandledProtocols}, got '<value>'")
        {
            Values = UnhandledProtocol,
        };

    /// <summary>A document whose apiVersion is not networking.istio.io.</summary>
    public static readonly RefusedField ApiVersion = new("any", "apiVersion", "any outside networking.istio.io, e.g. `security.istio.io/v1`",
        "'<value>' is not networking.istio.io: the local egress gateway reads only Istio networking resources");

    /// <summary>A networking.istio.io kind other than the four the gateway applies.</summary>
    public static readonly RefusedField Kind = new("any", "kind", "any but ServiceEntry, Gateway, DestinationRule, VirtualService, Sidecar, e.g. `EnvoyFilter`",
        "'<value>' is not a kind the local egress gateway applies (ServiceEntry, Gateway, DestinationRule, VirtualService, Sidecar)");

    /// <summary>ServiceEntry spec.workloadSelector.</summary>
    public static readonly RefusedField ServiceEntryWorkloadSelector = AnyValue("ServiceEntry", "spec.workloadSelector",
        "ServiceEntries that select workloads (MESH_INTERNAL pods)");

    /// <summary>ServiceEntry spec.resolution DYNAMIC_DNS.</summary>
    public static readonly RefusedField DynamicDns = new("ServiceEntry", "spec.resolution", "`DYNAMIC_DNS`",
        "<value> (a dynamic forward proxy: each request's host resolved when it is sent) is not modelled by the local egress gateway; use DNS")
    {
        Values = (value, _) => Is(value, "DYNAMIC_DNS"),
    };

    /// <summary>ServiceEntry port protocols the gateway does not handle.</summary>
    public static readonly RefusedField ServicePortProtocol = PortProtocol("ServiceEntry", "spec.ports[].protocol");

    /// <summary>ServiceEntry endpoint network.</summary>
    public static readonly RefusedField EndpointNetwork = AnyValue("ServiceEntry", "spec.endpoints[].network", "multi-network endpoints");

    /// <summary>ServiceEntry endpoint locality.</summary>
    public static readonly RefusedField EndpointLocality = AnyValue("ServiceEntry", "spec.endpoints[].locality", "locality-aware load balancing");

    /// <summary>ServiceEntry endpoint serviceAccount.</summary>
    public static readonly RefusedField EndpointServiceAccount = AnyValue("ServiceEntry", "spec.endpoints[].serviceAccount",
        "endpoint service accounts (mTLS identities)");

    /// <summary>ServiceEntry endpoint weight (Envoy's load_balancing_weight).</summary>
    public static readonly RefusedField EndpointWeight = AnyValue("ServiceEntry", "spec.endpoints[].weight",
        "endpoint weights, Envoy's load_balancing_weight: the local load balancer weighs every endpoint the same");

    /// <summary>Gateway server tls.mode AUTO_PASSTHROUGH.</summary>
    public static readonly RefusedField GatewayPassthrough = new("Gateway", "spec.servers[].tls.mode", "`AUTO_PASSTHROUGH`",
        "<value> (SNI-DNAT to a mesh service, for multi-network east-west gateways) is not modelled by the local egress gateway; use PASSTHROUGH with tls routes")
    {
        Values = (value, _) => Is(value, "AUTO_PASSTHROUGH"),
    };

    /// <summary>Gateway server port protocols the gateway does not handle.</summary>
    public static readonly RefusedField ServerPortProtocol = PortProtocol("Gateway", "spec.servers[].port.protocol");

    /// <summary>Gateway server tls.caCertCredentialName.</summary>
    public static readonly RefusedField ServerCaCertCredentialName = AnyValue("Gateway", "spec.servers[].tls.caCertCredentialName",
        "a client CA bundle from a Secret of its own; the gateway's listener checks client certificates against the mesh CA");

    /// <summary>Gateway server tls.credentialNames.</summary>
    public static readonly RefusedField ServerCredentialNames = AnyValue("Gateway", "spec.servers[].tls.credentialNames",
        "several server certificates (RSA and ECDSA) from several Secrets; use credentialName");

    /// <summary>Gateway server tls.tlsCertificates.</summary>
    public static readonly RefusedField ServerTlsCertificates = AnyValue("Gateway", "spec.servers[].tls.tlsCertificates",
        "several server certificates from files; use serverCertificate and privateKey");

    /// <summary>Gateway server tls.httpsRedirect: true.</summary>
    public static readonly RefusedField HttpsRedirect = new("Gateway", "spec.servers[].tls.httpsRedirect", "`true`",
        "is not modelled by the local egress gateway (a 301 to https)")
    {
        Values = (value, _) => value.ValueKind == JsonValueKind.True ? "true" : null,
    };

    private const string MeshCertificatesOnly = "the gateway's listener runs its handshake with mesh certificates only and applies none of them yet; "
        + "for an ISTIO_MUTUAL server istiod writes none of them (listener.go BuildListenerTLSContext), so there they are accepted";

    private const string UnlessIstioMutual = "any, unless the server's tls.mode is ISTIO_MUTUAL (istiod ignores it there)";

    // A server TLS handshake setting: refused unless the server is ISTIO_MUTUAL.
    private static RefusedField HandshakeSetting(string key, string what) =>
        new("Gateway", $"spec.servers[].tls.{key}", UnlessIstioMutual, $"is not supported by the local egress gateway ({what}: {MeshCertificatesOnly})")
        {
            Values = UnlessServerIsIstioMutual,
        };

    /// <summary>Gateway server tls.minProtocolVersion (not ISTIO_MUTUAL).</summary>
    public static readonly RefusedField ServerMinProtocolVersion = HandshakeSetting("minProtocolVersion", "TLS versions of the gateway's listener");

    /// <summary>Gateway server tls.maxProtocolVersion (not ISTIO_MUTUAL).</summary>
    public static readonly RefusedField ServerMaxProtocolVersion = HandshakeSetting("maxProtocolVersion", "TLS versions of the gateway's listener");

    /// <summary>Gateway server tls.cipherSuites (not ISTIO_MUTUAL).</summary>
    public static readonly RefusedField ServerCipherSuites = HandshakeSetting("cipherSuites", "cipher suites of the gateway's listener");

    /// <summary>Gateway server tls.verifyCertificateSpki (not ISTIO_MUTUAL).</summary>
    public static readonly RefusedField ServerVerifyCertificateSpki = HandshakeSetting("verifyCertificateSpki", "client certificate pinning at the gateway's listener");

    /// <summary>Gateway server tls.verifyCertificateHash (not ISTIO_MUTUAL).</summary>
    public static readonly RefusedField ServerVerifyCertificateHash = HandshakeSetting("verifyCertificateHash", "client certificate pinning at the gateway's listener");

    /// <summary>Gateway server tls.caCrl.</summary>
    public static readonly RefusedField ServerCaCrl = AnyValue("Gateway", "spec.servers[].tls.caCrl",
        "certificate revocation lists at the gateway's listener: the gateway's listener checks only that the client certificate is the mesh CA's");

    /// <summary>Sidecar spec.egress[].port.</summary>
    public static readonly RefusedField SidecarEgressPort = AnyValue("Sidecar", "spec.egress[].port",
        "egress listeners on a port of their own: the local sidecar's listeners are the services' ports");

    /// <summary>Sidecar spec.egress[].bind.</summary>
    public static readonly RefusedField SidecarEgressBind = AnyValue("Sidecar", "spec.egress[].bind",
        "egress listeners bound to an address of their own");

    /// <summary>Sidecar spec.egress[].captureMode.</summary>
    public static readonly RefusedField SidecarEgressCaptureMode = AnyValue("Sidecar", "spec.egress[].captureMode",
        "traffic capture modes: the app reaches its local sidecar as an HTTP proxy");

    /// <summary>Sidecar spec.outboundTrafficPolicy.egressProxy.</summary>
    public static readonly RefusedField SidecarEgressProxy = AnyValue("Sidecar", "spec.outboundTrafficPolicy.egressProxy",
        "an egress proxy for ALLOW_ANY traffic");

    /// <summary>Sidecar spec.ingress.</summary>
    public static readonly RefusedField SidecarIngress = AnyValue("Sidecar", "spec.ingress",
        "inbound listeners: the local run has no inbound traffic to a sidecar");

    /// <summary>Sidecar spec.inboundConnectionPool.</summary>
    public static readonly RefusedField SidecarInboundConnectionPool = AnyValue("Sidecar", "spec.inboundConnectionPool",
        "inbound connection pools: the local run has no inbound traffic to a sidecar");

    /// <summary>DestinationRule trafficPolicy.tunnel.</summary>
    public static readonly RefusedField Tunnel = AnyValue("DestinationRule", "spec.trafficPolicy.tunnel", "HTTP CONNECT tunnelling to the upstream");

    /// <summary>DestinationRule trafficPolicy.proxyProtocol.</summary>
    public static readonly RefusedField ProxyProtocol = AnyValue("DestinationRule", "spec.trafficPolicy.proxyProtocol", "PROXY protocol to the upstream");

    /// <summary>DestinationRule trafficPolicy.retryBudget.</summary>
    public static readonly RefusedField RetryBudget = AnyValue("DestinationRule", "spec.trafficPolicy.retryBudget", "retry budgets");

    /// <summary>DestinationRule loadBalancer.simple: PASSTHROUGH.</summary>
    public static readonly RefusedField LoadBalancerPassthrough = new("DestinationRule", "spec.trafficPolicy.loadBalancer.simple", "`PASSTHROUGH`",
        "PASSTHROUGH (an ORIGINAL_DST cluster: forward to the address the caller dialled) is not modelled by the local egress gateway: callers reach it as an HTTP proxy, with no original destination")
    {
        Values = (value, _) => Is(value, "PASSTHROUGH"),
    };

    /// <summary>DestinationRule loadBalancer.localityLbSetting.</summary>
    public static readonly RefusedField LocalityLbSetting = AnyValue("DestinationRule", "spec.trafficPolicy.loadBalancer.localityLbSetting",
        "locality-aware load balancing");

    /// <summary>DestinationRule loadBalancer.warmupDurationSecs.</summary>
    public static readonly RefusedField WarmupDurationSecs = AnyValue("DestinationRule", "spec.trafficPolicy.loadBalancer.warmupDurationSecs",
        "slow-start warm-up");

    /// <summary>DestinationRule loadBalancer.warmup.</summary>
    public static readonly RefusedField Warmup = AnyValue("DestinationRule", "spec.trafficPolicy.loadBalancer.warmup", "slow-start warm-up");

    /// <summary>DestinationRule loadBalancer.consistentHash without a hash key.</summary>
    public static readonly RefusedField ConsistentHashWithoutKey = new("DestinationRule", "spec.trafficPolicy.loadBalancer.consistentHash",
        "`{}`, and any without a hash key (Envoy then hashes nothing and picks at random)",
        "must set one hash key: httpHeaderName, httpCookie, useSourceIp or httpQueryParameterName")
    {
        Values = (value, _) => !new[] { "httpHeaderName", "httpCookie", "useSourceIp", "httpQueryParameterName" }.Any(k => IsSet(value, k)) ? "" : null,
    };

    /// <summary>DestinationRule connectionPool.tcp.idleTimeout.</summary>
    public static readonly RefusedField TcpIdleTimeout = AnyValue("DestinationRule", "spec.trafficPolicy.connectionPool.tcp.idleTimeout",
        "TCP idle timeouts (TCP proxying)");

    /// <summary>DestinationRule connectionPool.http.maxRequestsPerConnection above 1.</summary>
    public static readonly RefusedField MaxRequestsPerConnection = new("DestinationRule", "spec.trafficPolicy.connectionPool.http.maxRequestsPerConnection",
        "`2` or more",
        "<value> is not modelled by the local egress gateway (its HTTP/1.1 pool can close a connection after each request, 1, but cannot count to more); use 0 (unlimited) or 1")
    {
        Values = (value, _) => value.ValueKind == JsonValueKind.Number && value.TryGetInt64(out var n) && n > 1 ? value.GetRawText() : null,
    };

    /// <summary>DestinationRule connectionPool.http.maxConcurrentStreams.</summary>
    public static readonly RefusedField MaxConcurrentStreams = AnyValue("DestinationRule", "spec.trafficPolicy.connectionPool.http.maxConcurrentStreams",
        "HTTP/2 max_concurrent_streams per upstream connection, which istiod writes for HTTP/2 clusters (ports declared HTTP2 or GRPC): the local gateway does not count its HTTP/2 streams per connection");

    /// <summary>DestinationRule connectionPool.http.http2KeepAlive.</summary>
    public static readonly RefusedField Http2KeepAlive = AnyValue("DestinationRule", "spec.trafficPolicy.connectionPool.http.http2KeepAlive",
        "HTTP/2 keepalive pings to the upstream");

    /// <summary>DestinationRule connectionPool.http.h2UpgradePolicy: UPGRADE.</summary>
    public static readonly RefusedField H2Upgrade = new("DestinationRule", "spec.trafficPolicy.connectionPool.http.h2UpgradePolicy", "`UPGRADE`",
        "UPGRADE is not modelled by the local egress gateway: it speaks HTTP/2 upstream only to ports declared HTTP2 or GRPC")
    {
        Values = (value, _) => Is(value, "UPGRADE"),
    };

    /// <summary>DestinationRule tls.caCrl.</summary>
    public static readonly RefusedField CaCrl = AnyValue("DestinationRule", "spec.trafficPolicy.tls.caCrl", "certificate revocation lists");

    /// <summary>VirtualService tcp match destinationSubnets.</summary>
    public static readonly RefusedField TcpDestinationSubnets = AnyValue("VirtualService", "spec.tcp[].match[].destinationSubnets",
        "destination subnets: the service's addresses select its chain; a route's own subnets are not matched");

    /// <summary>VirtualService tls match destinationSubnets.</summary>
    public static readonly RefusedField TlsDestinationSubnets = AnyValue("VirtualService", "spec.tls[].match[].destinationSubnets",
        "destination subnets: the app's connection reaches the sidecar by name (CONNECT), with no destination IP to match");

    /// <summary>VirtualService tcp match sourceSubnet.</summary>
    public static readonly RefusedField TcpSourceSubnet = AnyValue("VirtualService", "spec.tcp[].match[].sourceSubnet",
        "source subnets: the local sidecar's only client is the app");

    /// <summary>VirtualService http delegate.</summary>
    public static readonly RefusedField Delegate = AnyValue("VirtualService", "spec.http[].delegate", "delegated VirtualServices");

    /// <summary>VirtualService string matches with none of exact, prefix and regex (headers and query parameters excepted).</summary>
    public static readonly RefusedField EmptyStringMatch = new("VirtualService", "spec.http[].match[].uri",
        "`{}` (none of exact, prefix and regex; likewise scheme, method, authority and corsPolicy.allowOrigins[])",
        "must have exactly one of exact, prefix or regex")
    {
        Values = (value, _) => !IsSet(value, "exact") && !IsSet(value, "prefix") && !IsSet(value, "regex") ? "" : null,
        AlsoAt = ["spec.http[].match[].scheme", "spec.http[].match[].method", "spec.http[].match[].authority", "spec.http[].corsPolicy.allowOrigins[]"],
    };

    /// <summary>VirtualService redirect.redirectCode that istiod writes no redirect for.</summary>
    public static readonly RefusedField RedirectCodeNotWritten = new("VirtualService", "spec.http[].redirect.redirectCode",
        "`300`, `304`, `305`, `306` and the other 3xx but 301, 302, 303, 307, 308",
        "<value> passes Istio's validation, but istiod writes no redirect for it (only 301, 302, 303, 307 and 308; route.go ApplyRedirect)")
    {
        Values = (value, _) => value.ValueKind == JsonValueKind.Number && value.TryGetInt64(out var code) && code is >= 300 and <= 399 and not (301 or 302 or 303 or 307 or 308)
            ? value.GetRawText() : null,
    };

    /// <summary>VirtualService http corsPolicy.allowPrivateNetworkAccess.</summary>
    public static readonly RefusedField CorsAllowPrivateNetworkAccess = AnyValue("VirtualService", "spec.http[].corsPolicy.allowPrivateNetworkAccess",
        "Private Network Access preflights (Envoy's allow_private_network_access)");

    /// <summary>VirtualService http rewrite.uriRegexRewrite.</summary>
    public static readonly RefusedField UriRegexRewrite = AnyValue("VirtualService", "spec.http[].rewrite.uriRegexRewrite", "regex URI rewrites");

    /// <summary>VirtualService retries.retryOn envoy-ratelimited.</summary>
    public static readonly RefusedField RetryOnRateLimited = new("VirtualService", "spec.http[].retries.retryOn", "`envoy-ratelimited` (as one of the conditions)",
        "envoy-ratelimited (a retry on Envoy's x-envoy-ratelimited response header) is not modelled by the local egress gateway")
    {
        Values = (value, _) => Text(value)?.Split(',').Contains("envoy-ratelimited") == true ? "envoy-ratelimited" : null,
    };

    /// <summary>VirtualService fault.delay.exponentialDelay.</summary>
    public static readonly RefusedField ExponentialDelay = AnyValue("VirtualService", "spec.http[].fault.delay.exponentialDelay", "exponential delays");

    /// <summary>VirtualService fault.delay without fixedDelay.</summary>
    public static readonly RefusedField DelayWithoutFixedDelay = new("VirtualService", "spec.http[].fault.delay",
        "`{}`, and any without fixedDelay", "needs a fixedDelay: the local egress gateway injects fixed delays only")
    {
        Values = (value, _) => !IsSet(value, "fixedDelay") ? "" : null,
    };

    /// <summary>VirtualService fault.abort.grpcStatus.</summary>
    public static readonly RefusedField GrpcStatus = AnyValue("VirtualService", "spec.http[].fault.abort.grpcStatus", "gRPC aborts");

    /// <summary>VirtualService fault.abort.http2Error.</summary>
    public static readonly RefusedField Http2Error = AnyValue("VirtualService", "spec.http[].fault.abort.http2Error", "HTTP/2 error aborts");

    /// <summary>VirtualService fault.abort without httpStatus.</summary>
    public static readonly RefusedField AbortWithoutHttpStatus = new("VirtualService", "spec.http[].fault.abort",
        "`{}`, and any without httpStatus", "needs an httpStatus (an HTTP status between 200 and 599): the local egress gateway aborts with HTTP statuses only")
    {
        Values = (value, _) => !IsSet(value, "httpStatus") ? "" : null,
    };

    /// <summary>VirtualService match on a JWT claim (a header, withoutHeaders or queryParams key starting with @request.auth.claims).</summary>
    public static readonly RefusedField JwtClaimMatch = new("VirtualService", "spec.http[].match[].headers.@request.auth.claims",
        "any (every key starting with @request.auth.claims, also under withoutHeaders and queryParams)",
        "matches a JWT claim, which needs Istio's RequestAuthentication; the local egress gateway does not model it")
    {
        AlsoAt = ["spec.http[].match[].withoutHeaders.@request.auth.claims", "spec.http[].match[].queryParams.@request.auth.claims"],
    };

    /// <summary>
    /// Every refused field, in the order of the documentation's table (an explicit list: adding a refusal means adding
    /// it here and to docs/conformance.md, which RefusedAtLoadTableTests compares).
    /// </summary>
    public static IReadOnlyList<RefusedField> All { get; } =
    [
        ApiVersion, Kind, ServiceEntryWorkloadSelector, DynamicDns, ServicePortProtocol, EndpointNetwork,
        EndpointLocality, EndpointServiceAccount, EndpointWeight, GatewayPassthrough, ServerPortProtocol,
        ServerCaCertCredentialName, ServerCredentialNames, ServerTlsCertificates, HttpsRedirect,
        ServerMinProtocolVersion, ServerMaxProtocolVersion, ServerCipherSuites, ServerVerifyCertificateSpki,
        ServerVerifyCertificateHash, ServerCaCrl, SidecarEgressPort, SidecarEgressBind, SidecarEgressCaptureMode,
        SidecarEgressProxy, SidecarIngress, SidecarInboundConnectionPool, Tunnel,
        ProxyProtocol, RetryBudget, LoadBalancerPassthrough, LocalityLbSetting, WarmupDurationSecs, Warmup,
        ConsistentHashWithoutKey, TcpIdleTimeout, MaxRequestsPerConnection, MaxConcurrentStreams, Http2KeepAlive,
        H2Upgrade, CaCrl, TcpDestinationSubnets, TlsDestinationSubnets, TcpSourceSubnet, Delegate, EmptyStringMatch,
        RedirectCodeNotWritten, CorsAllowPrivateNetworkAccess, UriRegexRewrite, RetryOnRateLimited, ExponentialDelay,
        DelayWithoutFixedDelay, GrpcStatus, Http2Error, AbortWithoutHttpStatus, JwtClaimMatch,
    ];

    // After All: static initialisers run in text order.
    private static readonly Lazy<Dictionary<string, List<(RefusedField Field, string[] Segments)>>> ByKind = new(() =>
        All.Where(f => f.Kind != "any")
            .SelectMany(f => Places(f).Select(place => (f, Segments(place))))
            .GroupBy(p => p.f.Kind, StringComparer.Ordinal)
            .ToDictionary(g => g.Key, g => g.ToList(), StringComparer.Ordinal));
}
