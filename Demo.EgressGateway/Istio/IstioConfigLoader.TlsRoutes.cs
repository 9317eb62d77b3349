namespace Demo.EgressGateway.Istio;

// IstioConfigLoader, continued: a VirtualService's tls routes (TLS passthrough by SNI) and tcp routes (by port), with
// istiod's webhook rules (pkg/config/validation/validation.go validateTLSRoute, validateTLSMatch, validateSniHost,
// validateTCPRoute, validateTCPMatch).
public static partial class IstioConfigLoader
{
    private static List<TlsRoute> ParseTlsRoutes(YamlFields spec, IReadOnlyList<string> hosts)
    {
        var routes = new List<TlsRoute>();
        foreach (var (route, index) in spec.MapList("tls").Select((r, i) => (r, i)))
        {
            var matches = route.MapList("match");
            if (matches.Count == 0)
            {
                route.Context.Error(route.Join("match"), "TLS route must have at least one match condition", route.Node);
            }
            var parsed = matches.Select(match => ParseTlsMatch(match, hosts)).ToList();
            var destinations = RouteDestinations(route, "TLS route is required");
            route.RejectUnknown();
            routes.Add(new TlsRoute(index, parsed, destinations));
        }
        return routes;
    }

    private static TlsMatch ParseTlsMatch(YamlFields match, IReadOnlyList<string> hosts)
    {
        var sniHosts = match.StringList("sniHosts");
        if (sniHosts.Count == 0)
        {
            match.Context.Error(match.Join("sniHosts"), "TLS match must have at least one SNI host", match.Node);
        }
        foreach (var sniHost in sniHosts.Where(s => !hosts.Any(h => HostName.Matches(h, s))))
        {
            match.Context.Error(match.Join("sniHosts"),
                $"SNI host \"{sniHost}\" is not a compatible subset of any of the virtual service hosts: [{string.Join(", ", hosts)}]", match.NodeOf("sniHosts"));
        }
        var result = new TlsMatch(sniHosts, match.Int("port", 1, 65535), match.StringList("gateways"))
        {
            SourceLabels = match.StringMap("sourceLabels").ToDictionary(kv => kv.Key, kv => kv.Value, StringComparer.Ordinal),
            SourceNamespace = match.String("sourceNamespace"),
        };
        match.Refuse(RefusedFields.TlsDestinationSubnets);
        match.RejectUnknown();
        return result;
    }

    private static List<TcpRoute> ParseTcpRoutes(YamlFields spec)
    {
        var routes = new List<TcpRoute>();
        foreach (var (route, index) in spec.MapList("tcp").Select((r, i) => (r, i)))
        {
            var matches = route.MapList("match").Select(match =>
            {
                var result = new L4Match(match.Int("port", 1, 65535), match.StringList("gateways"))
                {
                    SourceLabels = match.StringMap("sourceLabels").ToDictionary(kv => kv.Key, kv => kv.Value, StringComparer.Ordinal),
                    SourceNamespace = match.String("sourceNamespace"),
                };
                match.Refuse(RefusedFields.TcpDestinationSubnets);
                match.RejectUnknown();
                return result;
            }).ToList();
            var destinations = RouteDestinations(route, "TCP route is required");
            route.RejectUnknown();
            routes.Add(new TcpRoute(index, matches, destinations));
        }
        return routes;
    }

    // A tls or tcp route's destinations; none is Istio's error (validateTLSRoute, validateTCPRoute).
    private static List<RouteDestination> RouteDestinations(YamlFields route, string noneMessage)
    {
        var destinations = route.MapList("route").Select(ParseRouteDestination).ToList();
        if (destinations.Count == 0)
        {
            route.Context.Error(route.Join("route"), noneMessage, route.Node);
        }
        return destinations;
    }
}
