namespace Demo.EgressGateway.Istio;

public static partial class IstioAnalyzer
{
    // gateway.go buildGatewayNetworkFiltersFromTCPRoutes: a Gateway server that proxies TCP — protocol TCP, or TLS it
    // terminates — gets one filter chain for all its hosts, whose TCP proxy is the tcp route of the first VirtualService
    // bound to the Gateway and exported to its namespace (push order: creation time, then name) that has a host the
    // server admits for its namespace (pickMatchingGatewayHosts) and a tcp route for the port and the gateway
    // (l4MultiMatch). A second VirtualService with tcp routes for another host of the same server is never used: its
    // hosts' connections go to the first one's destination.
    private static void CheckSharedTcpServers(IReadOnlyList<Gateway> gateways, IReadOnlyList<VirtualService> virtualServices,
        Action<IstioResource, string?, string> warn)
    {
        foreach (var gateway in gateways)
        {
            for (var i = 0; i < gateway.Servers.Count; i++)
            {
                var server = gateway.Servers[i];
                var terminates = server.TlsMode is "SIMPLE" or "MUTUAL" or "ISTIO_MUTUAL" or "OPTIONAL_MUTUAL";
                if (!(server.Port.Protocol is "TCP" or "MONGO" || (terminates && server.Port.Protocol == "TLS")))
                {
                    continue;
                }
                var routing = virtualServices
                    .Where(vs => vs.Gateways.Any(g => FindGateway([gateway], g, vs.Id.Namespace) is not null) && ExportedToGateway(vs, gateway)
                        && vs.Hosts.Any(h => ServerHostsFor(server, gateway.Id.Namespace, vs.Id.Namespace).Any(s => HostName.Matches(s, h) || HostName.Matches(h, s)))
                        && vs.Tcp.Any(r => r.Route.Count > 0 && (r.Match.Count == 0 || r.Match.Any(m => (m.Port is null || m.Port == server.Port.Number)
                            && (m.Gateways.Count == 0 || m.Gateways.Any(g => FindGateway([gateway], g, vs.Id.Namespace) is not null))))))
                    .ToList();
                if (routing.Count < 2)
                {
                    continue;
                }
                foreach (var vs in routing)
                {
                    warn(vs, "spec.tcp", $"is one of {routing.Count} VirtualServices ({string.Join(", ", routing.Select(v => $"'{v.Id.Name}'"))}) with tcp routes for Gateway '{gateway.Id.Name}' servers[{i}] (port {server.Port.Number}, hosts {string.Join(", ", server.Hosts)}): Istio gives that server one TCP proxy, the tcp route of the first of them in its order (creation time, then name), and sends every host's connections there; give each host its own server");
                }
            }
        }
    }
}
