namespace Demo.EgressGateway.Istio;

// IstioAnalyzer, continued: the lookups the analyzer shares with the translation (subset SNI, Host header, most specific DestinationRule, Gateway by reference).
public static partial class IstioAnalyzer
{
    public static string? SubsetSni(IEnumerable<DestinationRule> rules, Destination destination, MeshEnvironment environment)
    {
        var rule = MostSpecificRule(rules, destination.Host);
        if (rule is null)
        {
            return null;
        }
        var port = destination.Port ?? 80;
        var subset = rule.Subsets.FirstOrDefault(s => s.Name == destination.Subset);
        return TrafficPolicies.Effective(rule.TrafficPolicy, subset?.TrafficPolicy, port)?.Tls?.Sni;
    }

    /// <summary>
    /// The Host a destination's request carries, with Istio's precedence (route.go TranslateRoute /
    /// applyHTTPRouteDestination / processDestination): <c>rewrite.authority</c>, then the route's
    /// <c>headers.request</c> Host/<c>:authority</c>, then the destination's.
    /// </summary>
    public static string? HostHeader(RouteDestination destination, HttpRoute route) =>
        RouteLevelHost(route) ?? SetHost(destination.Headers);

    /// <summary>The Host set for the whole route: <c>rewrite.authority</c>, else its <c>headers.request</c> Host.</summary>
    public static string? RouteLevelHost(HttpRoute route) =>
        route.RewriteAuthority is { Length: > 0 } authority ? authority : SetHost(route.Headers);

    // route.go TranslateHeadersOperations: Host or :authority in set, else in add.
    private static string? SetHost(Headers? headers)
    {
        static string? Find(IReadOnlyList<KeyValuePair<string, string>>? pairs) =>
            pairs?.Where(kv => kv.Key.Equals("host", StringComparison.OrdinalIgnoreCase) || kv.Key.Equals(":authority", StringComparison.OrdinalIgnoreCase))
                .Select(kv => kv.Value).LastOrDefault();
        return Find(headers?.Request?.Set) ?? Find(headers?.Request?.Add);
    }

    /// <summary>Istio's DestinationRule choice for a host: an exact host first, then the longest matching wildcard.</summary>
    public static DestinationRule? MostSpecificRule(IEnumerable<DestinationRule> rules, string host)
    {
        var matching = rules.Where(r => HostName.Matches(r.Host, host)).ToList();
        return matching.FirstOrDefault(r => string.Equals(r.Host, host, StringComparison.OrdinalIgnoreCase))
            ?? matching.Where(r => r.Host.Contains('*')).OrderByDescending(r => r.Host.Length).FirstOrDefault();
    }

    public static Gateway? FindGateway(IEnumerable<Gateway> gateways, string reference)
    {
        var slash = reference.IndexOf('/', StringComparison.Ordinal);
        var ns = slash < 0 ? null : reference[..slash];
        var name = slash < 0 ? reference : reference[(slash + 1)..];
        return gateways.FirstOrDefault(g => g.Id.Name == name && (ns is null || g.Id.Namespace is null || g.Id.Namespace == ns));
    }
}
