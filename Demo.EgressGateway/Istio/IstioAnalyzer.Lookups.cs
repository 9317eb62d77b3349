namespace Demo.EgressGateway.Istio;

// IstioAnalyzer, continued: the lookups the analyzer shares with the translation (subset SNI, Host header, most specific DestinationRule, Gateway by reference).
public static partial class IstioAnalyzer
{
    /// <summary>The SNI <paramref name="rule"/> (a destination host's) gives <paramref name="subset"/> (null: none) on <paramref name="port"/>; null: none.</summary>
    public static string? SubsetSni(DestinationRule? rule, Subset? subset, int port) =>
        rule is null ? null : TrafficPolicies.Effective(rule.TrafficPolicy, subset?.TrafficPolicy, port)?.Tls?.Sni;

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

    /// <summary>
    /// The rules as Istio applies them (destination_rule.go mergeDestinationRule): rules of one host and namespace that
    /// Istio merges become the first one by name, with the others' subsets of new names added and its trafficPolicy
    /// (else the first other one's); the rest stay as they are, in order. Look a host's rule up with
    /// <see cref="HostIndex{T}.MostSpecific"/> (an exact host first, then the longest matching wildcard).
    /// </summary>
    public static IReadOnlyList<DestinationRule> MergedRules(IReadOnlyList<DestinationRule> rules, MeshEnvironment environment)
    {
        var merged = new Dictionary<DestinationRule, DestinationRule?>(ReferenceEqualityComparer.Instance);
        foreach (var group in rules.GroupBy(dr => (Host: dr.Host.ToLowerInvariant(), dr.Id.Namespace)).Where(g => g.Count() > 1))
        {
            var ordered = group.OrderBy(dr => dr.Id.Name, StringComparer.Ordinal).ToList();
            var first = ordered[0];
            var result = first;
            var names = first.Subsets.Select(s => s.Name).ToHashSet(StringComparer.Ordinal);
            foreach (var dr in ordered.Skip(1).Where(dr => MergesInto(first, dr, environment)))
            {
                result = result with
                {
                    Subsets = [.. result.Subsets, .. dr.Subsets.Where(s => names.Add(s.Name))],
                    TrafficPolicy = result.TrafficPolicy ?? dr.TrafficPolicy,
                };
                merged[dr] = null;
            }
            merged[first] = result;
        }
        return merged.Count == 0 ? rules
            : [.. rules.Select(r => merged.TryGetValue(r, out var m) ? m : r).OfType<DestinationRule>()];
    }

    /// <summary>
    /// Whether Istio merges <paramref name="other"/> into <paramref name="first"/>, a rule of the same host and
    /// namespace created before it: always up to 1.23; from 1.24 only when the exportTo are the same or
    /// <paramref name="other"/>'s covers <paramref name="first"/>'s non-empty one.
    /// </summary>
    private static bool MergesInto(DestinationRule first, DestinationRule other, MeshEnvironment environment)
    {
        var firstExportTo = first.ExportTo.ToHashSet(StringComparer.Ordinal);
        return environment.IstioVersion.MergesDestinationRulesWithDifferentExportTo || firstExportTo.SetEquals(other.ExportTo)
            || (firstExportTo.Count > 0 && firstExportTo.IsSubsetOf(other.ExportTo));
    }

    /// <summary>The hosts of a Gateway's servers, without their namespaces.</summary>
    private static IEnumerable<string> ServerHosts(Gateway gateway) =>
        gateway.Servers.SelectMany(s => s.Hosts).Select(HostName.StripNamespace);

    /// <summary>
    /// The hosts of a Gateway's servers that a VirtualService of <paramref name="vsNamespace"/> may bind, without their
    /// namespaces (pkg/config/host NamesForNamespace): <c>ns/host</c> only for ns, <c>./host</c> for the Gateway's own
    /// namespace, <c>*/host</c> and a bare host for any. A resource without a namespace is taken to be in any.
    /// </summary>
    private static IEnumerable<string> ServerHostsFor(Gateway gateway, string? vsNamespace) =>
        gateway.Servers.SelectMany(s => ServerHostsFor(s, gateway.Id.Namespace, vsNamespace));

    private static IEnumerable<string> ServerHostsFor(GatewayServer server, string? gatewayNamespace, string? vsNamespace) =>
        server.Hosts.Where(h => AdmitsNamespace(h, gatewayNamespace, vsNamespace)).Select(HostName.StripNamespace);

    private static bool AdmitsNamespace(string serverHost, string? gatewayNamespace, string? vsNamespace) =>
        vsNamespace is null || HostName.SplitServerHost(serverHost, gatewayNamespace ?? vsNamespace).Namespace is var ns && (ns == "*" || ns == vsNamespace);

    /// <summary>
    /// The Gateway a VirtualService's <c>gateways</c> entry names, as Istio resolves it (resource.NewShortOrFullName):
    /// <c>ns/name</c>, or a short name in <paramref name="fromNamespace"/> (the VirtualService's; null: any namespace).
    /// </summary>
    public static Gateway? FindGateway(IEnumerable<Gateway> gateways, string reference, string? fromNamespace = null)
    {
        var slash = reference.IndexOf('/', StringComparison.Ordinal);
        var ns = slash < 0 ? fromNamespace : reference[..slash];
        var name = slash < 0 ? reference : reference[(slash + 1)..];
        return gateways.FirstOrDefault(g => g.Id.Name == name && (ns is null || g.Id.Namespace is null || g.Id.Namespace == ns));
    }

    // push_context.go VirtualServicesForGateway: a VirtualService reaches a gateway of another namespace only when its
    // exportTo includes that namespace.
    private static bool ExportedToGateway(VirtualService vs, Gateway gateway) =>
        vs.Id.Namespace is null || gateway.Id.Namespace is null || ExportTo.Reaches(vs.ExportTo, vs.Id.Namespace, gateway.Id.Namespace);
}
