using Demo.EgressGateway.Istio;

namespace Demo.EgressGateway.Envoy;

// istiod listener.go buildSidecarOutboundListeners and tcp.go buildSidecarOutboundTCPTLSFilterChainOpts: what the
// sidecar's outbound listener of a TLS port does with intercepted TLS — a filter chain per service host, matched by SNI,
// whose TCP proxy sends the bytes on as they are.
public static partial class IstioTranslator
{
    private sealed partial class ProxyTranslation
    {
        // A TLS or HTTPS service port gets, on the listener for that port, one chain per service host with
        // server_names [host] (a wildcard host stays a wildcard name) and transport_protocol tls, whose tcp_proxy goes to
        // outbound|port||host. An HTTP listener on the same port keeps its chain for plain text (raw_buffer).
        private void AddSidecarTlsChains(List<Listener> listeners)
        {
            var byPort = _services.Values
                .SelectMany(service => service.Ports.Where(IsTls).Select(port => (Service: service, Port: port)))
                .GroupBy(x => x.Port.Number)
                .OrderBy(g => g.Key);
            var meshServices = VisibleVirtualServices()
                .Where(vs => vs.Gateways.Count == 0 || vs.Gateways.Contains(MeshEnvironment.MeshGateway))
                .ToList();
            foreach (var group in byPort)
            {
                var port = group.Key;
                // tcp.go buildSidecarOutboundTLSFilterChainOpts: a VirtualService's tls route whose match applies to this
                // sidecar and port gives a chain for its sniHosts; a service host no such match names keeps its own chain.
                var chains = new List<FilterChain>();
                foreach (var vs in meshServices)
                {
                    foreach (var route in vs.Tls)
                    {
                        foreach (var match in route.Match.Where(m => (m.Port is null || m.Port == port)
                            && L4SourceMatches(m.Gateways, m.SourceLabels, m.SourceNamespace, [MeshEnvironment.MeshGateway], NamespaceOf(vs), sourceIsWorkload: true)))
                        {
                            var serverNames = match.SniHosts.Where(sni => chains.All(c => !c.FilterChainMatch!.ServerNames.Contains(sni, StringComparer.OrdinalIgnoreCase))).ToList();
                            if (serverNames.Count > 0)
                            {
                                chains.Add(TcpProxyChain($"{vs.Id.Name}.tls[{route.Index}]:{port}", serverNames, TcpProxyFor(route.Route, port)));
                            }
                        }
                    }
                }
                chains.AddRange(group
                    .Select(x => x.Service.Host)
                    .Distinct(StringComparer.OrdinalIgnoreCase)
                    .Where(host => chains.All(c => !c.FilterChainMatch!.ServerNames.Any(name => HostMatches(name, host))))
                    .Select(host => TcpProxyChain($"{host}:{port}", [host], new TcpProxy(ClusterName(port, null, host), ClusterName(port, null, host)))));
                var name = $"0.0.0.0_{port}";
                var index = listeners.FindIndex(l => l.Name == name);
                if (index < 0)
                {
                    listeners.Add(new Listener(name, new Address(new SocketAddress("0.0.0.0", port)), chains));
                    continue;
                }
                var http = listeners[index].FilterChains.Select(c => c with { FilterChainMatch = new FilterChainMatch([], "raw_buffer") });
                listeners[index] = listeners[index] with { FilterChains = [.. http, .. chains] };
            }
            listeners.Sort((a, b) => a.Port.CompareTo(b.Port));
        }

        // listener.go / tcp.go buildSidecarOutboundTCPListenerOptsForPortOrUDS: a TCP service port gets a TCP proxy chain to
        // outbound|port||host, matching the service's addresses (Istio: a listener per address and port; here one listener
        // per port, the addresses as the chain's prefix_ranges) or, without addresses, any destination on the port.
        private void AddSidecarTcpChains(List<Listener> listeners)
        {
            foreach (var group in _services.Values
                .SelectMany(service => service.Ports.Where(p => p.Protocol is "TCP" or "MONGO").Select(port => (Service: service, Port: port)))
                .GroupBy(x => x.Port.Number)
                .OrderBy(g => g.Key))
            {
                var port = group.Key;
                var chains = group.Select(x =>
                {
                    var cluster = ClusterName(port, null, x.Service.Host);
                    return new FilterChain($"{x.Service.Host}:{port}", new FilterChainMatch([], null)
                    {
                        PrefixRanges = [.. x.Service.Addresses.Select(CidrRange.Parse).OfType<CidrRange>()],
                    }, [new NetworkFilter(NetworkFilter.TcpProxyName, MeshTcpRoute(x.Service.Host, port) ?? new TcpProxy(cluster, cluster))], null);
                }).ToList();
                var name = $"0.0.0.0_{port}";
                var index = listeners.FindIndex(l => l.Name == name);
                if (index < 0)
                {
                    listeners.Add(new Listener(name, new Address(new SocketAddress("0.0.0.0", port)), chains));
                }
                else
                {
                    listeners[index] = listeners[index] with { FilterChains = [.. listeners[index].FilterChains, .. chains] };
                }
            }
            listeners.Sort((a, b) => a.Port.CompareTo(b.Port));
        }

        // tcp.go buildSidecarOutboundTCPTLSFilterChainOpts: the first tcp route of a mesh-bound VirtualService for the
        // host whose match applies to this sidecar and port (a route without matches applies to any); null: none.
        private TcpProxy? MeshTcpRoute(string host, int port)
        {
            foreach (var vs in VisibleVirtualServices().Where(vs => (vs.Gateways.Count == 0 || vs.Gateways.Contains(MeshEnvironment.MeshGateway))
                && vs.Hosts.Any(h => HostMatches(h, host))))
            {
                var route = vs.Tcp.FirstOrDefault(r => r.Match.Count == 0 || r.Match.Any(m => (m.Port is null || m.Port == port)
                    && L4SourceMatches(m.Gateways, m.SourceLabels, m.SourceNamespace, [MeshEnvironment.MeshGateway], NamespaceOf(vs), sourceIsWorkload: true)));
                if (route is not null)
                {
                    return TcpProxyFor(route.Route, port);
                }
            }
            return null;
        }

        // Istio's DNS proxy table (pilot/pkg/networking/dns, BuildNameTable): each service host with addresses.
        private NameTable BuildNameTable() => new(_services.Values
            .Where(s => s.Addresses.Count > 0)
            .ToDictionary(s => s.Host, s => new NameInfo([.. s.Addresses.Select(a => a.Split('/')[0])], "External"), StringComparer.OrdinalIgnoreCase));

        // tcp.go buildOutboundNetworkFilters: one destination is the TCP proxy's cluster; several are its weighted_clusters.
        private TcpProxy TcpProxyFor(IReadOnlyList<RouteDestination> route, int port)
        {
            if (route.Count == 1)
            {
                var cluster = DestinationCluster(route[0].Destination, port);
                return new TcpProxy(cluster, cluster);
            }
            var weighted = route.Where(d => (d.Weight ?? 0) > 0)
                .Select(d => new TcpProxyClusterWeight(DestinationCluster(d.Destination, port), d.Weight!.Value))
                .ToList();
            return new TcpProxy(weighted.Count > 0 ? weighted[0].Name : "", null) { WeightedClusters = new TcpProxyWeightedCluster(weighted) };
        }

        // route.go / tcp.go matchTLS: the match's gateways (else the VirtualService's), source labels and namespace.
        private bool L4SourceMatches(IReadOnlyList<string> gateways, IReadOnlyDictionary<string, string> sourceLabels, string? sourceNamespace,
            IReadOnlyList<string> gatewayNames, string vsNamespace, bool sourceIsWorkload)
        {
            if (gateways.Count > 0)
            {
                return gateways.Any(g => gatewayNames.Contains(ResolveGatewayName(g, vsNamespace)));
            }
            var labels = sourceIsWorkload ? environment.WorkloadLabels : environment.GatewayLabels;
            return sourceLabels.All(l => labels.TryGetValue(l.Key, out var v) && v == l.Value)
                && (sourceNamespace is null || sourceNamespace == proxyNamespace);
        }

        private static FilterChain TcpProxyChain(string name, IReadOnlyList<string> serverNames, TcpProxy proxy) =>
            new(name, new FilterChainMatch(serverNames, "tls"), [new NetworkFilter(NetworkFilter.TcpProxyName, proxy)], null);

        // Istio's protocol sniffing aside, a port declared TLS or HTTPS carries TLS the app itself speaks.
        private static bool IsTls(ServicePort port) => port.Protocol is "TLS" or "HTTPS";
    }
}
