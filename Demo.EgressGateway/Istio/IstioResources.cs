using System.Text.RegularExpressions;

namespace Demo.EgressGateway.Istio;

// The part of Istio's networking.istio.io API the local gateway honours. Fields Istio knows but that
// change nothing on one machine (exportTo, resolution, loadBalancer, ...) are accepted and not kept.

public sealed record ResourceId(string Kind, string Name, string? Namespace, string File)
{
    public override string ToString() => $"{Kind} '{Name}'";
}

public abstract record IstioResource(ResourceId Id);

public sealed record ServiceEntry(ResourceId Id, IReadOnlyList<string> Hosts, IReadOnlyList<ServicePort> Ports) : IstioResource(Id);

public sealed record ServicePort(int Number, string? Name, string? Protocol);

public sealed record Gateway(ResourceId Id, IReadOnlyDictionary<string, string> Selector, IReadOnlyList<GatewayServer> Servers)
    : IstioResource(Id);

public sealed record GatewayServer(ServicePort Port, IReadOnlyList<string> Hosts, string? TlsMode);

public sealed record DestinationRule(ResourceId Id, string Host, TrafficPolicy? TrafficPolicy, IReadOnlyList<Subset> Subsets)
    : IstioResource(Id);

public sealed record Subset(string Name, TrafficPolicy? TrafficPolicy);

public sealed record TrafficPolicy(
    ConnectionPool? ConnectionPool,
    OutlierDetection? OutlierDetection,
    ClientTls? Tls,
    IReadOnlyList<PortTrafficPolicy> PortLevelSettings);

public sealed record PortTrafficPolicy(int Port, ConnectionPool? ConnectionPool, OutlierDetection? OutlierDetection, ClientTls? Tls);

public sealed record ClientTls(
    string Mode,
    string? Sni,
    IReadOnlyList<string> SubjectAltNames,
    bool InsecureSkipVerify,
    string? CaCertificates,
    string? CredentialName,
    string Field);

public sealed record ConnectionPool(int? MaxConnections, TimeSpan? ConnectTimeout, int? Http1MaxPendingRequests, int? Http2MaxRequests);

public sealed record OutlierDetection(
    int? Consecutive5xxErrors,
    int? ConsecutiveGatewayErrors,
    TimeSpan? Interval,
    TimeSpan? BaseEjectionTime,
    int? MaxEjectionPercent);

public sealed record VirtualService(
    ResourceId Id,
    IReadOnlyList<string> Hosts,
    IReadOnlyList<string> Gateways,
    IReadOnlyList<HttpRoute> Http) : IstioResource(Id);

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
}

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
    bool IgnoreUriCase);

public enum StringMatchKind { Exact, Prefix, Regex }

public sealed record StringMatch(StringMatchKind Kind, string Value, Regex? Regex)
{
    public bool IsMatch(string? input, bool ignoreCase = false)
    {
        if (input is null)
        {
            return false;
        }
        var comparison = ignoreCase ? StringComparison.OrdinalIgnoreCase : StringComparison.Ordinal;
        return Kind switch
        {
            StringMatchKind.Exact => string.Equals(input, Value, comparison),
            StringMatchKind.Prefix => input.StartsWith(Value, comparison),
            _ => Regex!.IsMatch(input),
        };
    }
}

public sealed record RouteDestination(Destination Destination, int? Weight, Headers? Headers, string Field);

public sealed record Destination(string Host, string? Subset, int? Port);

public sealed record Headers(HeaderOperations? Request, HeaderOperations? Response);

public sealed record HeaderOperations(
    IReadOnlyList<KeyValuePair<string, string>> Set,
    IReadOnlyList<KeyValuePair<string, string>> Add,
    IReadOnlyList<string> Remove);

public sealed record HttpRetry(int Attempts, TimeSpan? PerTryTimeout, string? RetryOn, TimeSpan? Backoff);

public sealed record HttpFault(FaultDelay? Delay, FaultAbort? Abort);

public sealed record FaultDelay(TimeSpan FixedDelay, double Percentage);

public sealed record FaultAbort(int HttpStatus, double Percentage);
