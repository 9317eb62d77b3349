using System.Text.Json.Serialization;

namespace Demo.EgressGateway.Istio.Api;

/// <summary>networking.istio.io VirtualService <c>spec</c> (virtual_service.proto <c>VirtualService</c>).</summary>
internal sealed record VirtualService
{
    public IReadOnlyList<string>? Hosts { get; set; }
    public IReadOnlyList<string>? Gateways { get; set; }
    public IReadOnlyList<HTTPRoute>? Http { get; set; }
    public IReadOnlyList<TLSRoute>? Tls { get; set; }
    public IReadOnlyList<TCPRoute>? Tcp { get; set; }
    public IReadOnlyList<string>? ExportTo { get; set; }
}

/// <summary>virtual_service.proto <c>HTTPRoute</c>.</summary>
internal sealed record HTTPRoute
{
    public string? Name { get; set; }
    public IReadOnlyList<HTTPMatchRequest>? Match { get; set; }
    public IReadOnlyList<HTTPRouteDestination>? Route { get; set; }
    public HTTPRedirect? Redirect { get; set; }
    public HTTPDirectResponse? DirectResponse { get; set; }
    public HTTPRewrite? Rewrite { get; set; }
    public string? Timeout { get; set; }
    public HTTPRetry? Retries { get; set; }
    public HTTPFaultInjection? Fault { get; set; }
    public Destination? Mirror { get; set; }
    public IReadOnlyList<HTTPMirrorPolicy>? Mirrors { get; set; }
    /// <summary>Deprecated; the CRD also has it as <c>mirror_percent</c>.</summary>
    public uint? MirrorPercent { get; set; }
    [JsonPropertyName("mirror_percent")]
    public uint? MirrorPercentSnakeCase { get; set; }
    public Percent? MirrorPercentage { get; set; }
    public CorsPolicy? CorsPolicy { get; set; }
    public Headers? Headers { get; set; }
}

/// <summary>virtual_service.proto <c>HTTPMatchRequest</c>.</summary>
internal sealed record HTTPMatchRequest
{
    public string? Name { get; set; }
    public StringMatch? Uri { get; set; }
    public StringMatch? Scheme { get; set; }
    public StringMatch? Method { get; set; }
    public StringMatch? Authority { get; set; }
    public IReadOnlyDictionary<string, StringMatch?>? Headers { get; set; }
    public uint? Port { get; set; }
    public IReadOnlyDictionary<string, string>? SourceLabels { get; set; }
    public IReadOnlyList<string>? Gateways { get; set; }
    public IReadOnlyDictionary<string, StringMatch?>? QueryParams { get; set; }
    public bool? IgnoreUriCase { get; set; }
    public IReadOnlyDictionary<string, StringMatch?>? WithoutHeaders { get; set; }
    public string? SourceNamespace { get; set; }
}

/// <summary>virtual_service.proto <c>StringMatch</c> (a oneof: exact, prefix or regex).</summary>
internal sealed record StringMatch
{
    public string? Exact { get; set; }
    public string? Prefix { get; set; }
    public string? Regex { get; set; }
}

/// <summary>virtual_service.proto <c>HTTPRouteDestination</c> (and <c>RouteDestination</c>, which has no headers).</summary>
internal sealed record HTTPRouteDestination
{
    public Destination? Destination { get; set; }
    public int? Weight { get; set; }
    public Headers? Headers { get; set; }
}

/// <summary>virtual_service.proto <c>Destination</c>.</summary>
internal sealed record Destination
{
    public string? Host { get; set; }
    public string? Subset { get; set; }
    public PortSelector? Port { get; set; }
}

/// <summary>virtual_service.proto <c>PortSelector</c>.</summary>
internal sealed record PortSelector
{
    public uint? Number { get; set; }
}

/// <summary>virtual_service.proto <c>Headers</c>.</summary>
internal sealed record Headers
{
    public HeaderOperations? Request { get; set; }
    public HeaderOperations? Response { get; set; }
}

/// <summary>virtual_service.proto <c>Headers.HeaderOperations</c>.</summary>
internal sealed record HeaderOperations
{
    public IReadOnlyDictionary<string, string>? Set { get; set; }
    public IReadOnlyDictionary<string, string>? Add { get; set; }
    public IReadOnlyList<string>? Remove { get; set; }
}

/// <summary>virtual_service.proto <c>HTTPRedirect</c>.</summary>
internal sealed record HTTPRedirect
{
    public string? Uri { get; set; }
    public string? Authority { get; set; }
    public uint? Port { get; set; }
    public string? DerivePort { get; set; }
    public string? Scheme { get; set; }
    public uint? RedirectCode { get; set; }
}

/// <summary>virtual_service.proto <c>HTTPDirectResponse</c>.</summary>
internal sealed record HTTPDirectResponse
{
    public uint? Status { get; set; }
    public HTTPBody? Body { get; set; }
}

/// <summary>virtual_service.proto <c>HTTPBody</c> (a oneof: string or bytes, base64 in JSON).</summary>
internal sealed record HTTPBody
{
    public string? String { get; set; }
    public string? Bytes { get; set; }
}

/// <summary>virtual_service.proto <c>HTTPRewrite</c>.</summary>
internal sealed record HTTPRewrite
{
    public string? Uri { get; set; }
    public string? Authority { get; set; }
}

/// <summary>virtual_service.proto <c>HTTPRetry</c>.</summary>
internal sealed record HTTPRetry
{
    public int? Attempts { get; set; }
    public string? PerTryTimeout { get; set; }
    public string? RetryOn { get; set; }
    public bool? RetryRemoteLocalities { get; set; }
    public bool? RetryIgnorePreviousHosts { get; set; }
    public string? Backoff { get; set; }
}

/// <summary>virtual_service.proto <c>HTTPFaultInjection</c>.</summary>
internal sealed record HTTPFaultInjection
{
    public HTTPFaultInjectionDelay? Delay { get; set; }
    public HTTPFaultInjectionAbort? Abort { get; set; }
}

/// <summary>virtual_service.proto <c>HTTPFaultInjection.Delay</c>.</summary>
internal sealed record HTTPFaultInjectionDelay
{
    public string? FixedDelay { get; set; }
    public Percent? Percentage { get; set; }
    /// <summary>Deprecated integer percentage.</summary>
    public int? Percent { get; set; }
}

/// <summary>virtual_service.proto <c>HTTPFaultInjection.Abort</c>.</summary>
internal sealed record HTTPFaultInjectionAbort
{
    public int? HttpStatus { get; set; }
    public Percent? Percentage { get; set; }
}

/// <summary>virtual_service.proto <c>Percent</c>.</summary>
internal sealed record Percent
{
    public double? Value { get; set; }
}

/// <summary>virtual_service.proto <c>HTTPMirrorPolicy</c>.</summary>
internal sealed record HTTPMirrorPolicy
{
    public Destination? Destination { get; set; }
    public Percent? Percentage { get; set; }
}

/// <summary>virtual_service.proto <c>CorsPolicy</c>.</summary>
internal sealed record CorsPolicy
{
    public IReadOnlyList<string>? AllowOrigin { get; set; }
    public IReadOnlyList<StringMatch>? AllowOrigins { get; set; }
    public IReadOnlyList<string>? AllowMethods { get; set; }
    public IReadOnlyList<string>? AllowHeaders { get; set; }
    public IReadOnlyList<string>? ExposeHeaders { get; set; }
    public string? MaxAge { get; set; }
    public bool? AllowCredentials { get; set; }
    public string? UnmatchedPreflights { get; set; }
}

/// <summary>virtual_service.proto <c>TLSRoute</c>.</summary>
internal sealed record TLSRoute
{
    public IReadOnlyList<TLSMatchAttributes>? Match { get; set; }
    public IReadOnlyList<HTTPRouteDestination>? Route { get; set; }
}

/// <summary>virtual_service.proto <c>TLSMatchAttributes</c>.</summary>
internal sealed record TLSMatchAttributes
{
    public IReadOnlyList<string>? SniHosts { get; set; }
    public uint? Port { get; set; }
    public IReadOnlyDictionary<string, string>? SourceLabels { get; set; }
    public IReadOnlyList<string>? Gateways { get; set; }
    public string? SourceNamespace { get; set; }
}

/// <summary>virtual_service.proto <c>TCPRoute</c>.</summary>
internal sealed record TCPRoute
{
    public IReadOnlyList<L4MatchAttributes>? Match { get; set; }
    public IReadOnlyList<HTTPRouteDestination>? Route { get; set; }
}

/// <summary>virtual_service.proto <c>L4MatchAttributes</c>.</summary>
internal sealed record L4MatchAttributes
{
    public uint? Port { get; set; }
    public IReadOnlyDictionary<string, string>? SourceLabels { get; set; }
    public IReadOnlyList<string>? Gateways { get; set; }
    public string? SourceNamespace { get; set; }
}
