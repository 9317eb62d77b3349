using Demo.EgressGateway.Istio;
using IstioVirtualService = Demo.EgressGateway.Istio.VirtualService;

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
                // tls.go buildSidecarOutboundTLSFilterChainOpts, per service of the port: the tls routes of the mesh-bound
                // VirtualServices for that service's host (getConfigsForHost: a VirtualService whose hosts match no
                // service gives nothing) — each match that applies to this sidecar and port a chain for its sniHosts —;
                // a service none of whose VirtualServices has such a match keeps its own chain: server_names [host], or,
                // for a service with addresses (a VIP), the addresses as the destination match and no server names.
                var chains = new List<FilterChain>();
                foreach (var service in group.Select(x => x.Service).DistinctBy(s => s.Host, StringComparer.OrdinalIgnoreCase))
                {
                    var hasTlsMatch = false;
                    foreach (var vs in meshServices.Where(vs => vs.Hosts.Any(h => HostMatches(h, service.Host) || HostMatches(service.Host, h))))
                    {
                        foreach (var route in vs.Tls)
                        {
                            foreach (var match in route.Match.Where(m => (m.Port is null || m.Port == port)
                                && L4SourceMatches(m.Gateways, m.SourceLabels, m.SourceNamespace, [MeshEnvironment.MeshGateway], NamespaceOf(vs), sourceIsWorkload: true)))
                            {
                                hasTlsMatch = true;
                                var serverNames = match.SniHosts.Where(sni => chains.All(c => !c.FilterChainMatch!.ServerNames.Contains(sni, StringComparer.OrdinalIgnoreCase))).ToList();
                                if (serverNames.Count > 0)
                                {
                                    chains.Add(TcpProxyChain($"{vs.Id.Name}.tls[{route.Index}]:{port}", serverNames, TcpProxyFor(route.Route, port, vs)));
                                }
                            }
                        }
                    }
                    if (hasTlsMatch)
                    {
                        continue;
                    }
                    var cluster = ClusterName(port, null, service.Host);
                    var addresses = service.Host.Contains('*') ? [] : service.Addresses.Select(CidrRange.Parse).OfType<CidrRange>().ToList();
                    if (addresses.Count > 0)
                    {
                        chains.Add(new FilterChain($"{service.Host}:{port}", new FilterChainMatch([], "tls") { PrefixRanges = addresses },
                            [new NetworkFilter(NetworkFilter.TcpProxyName, new TcpProxy(cluster, cluster))], null));
                    }
                    else if (chains.All(c => !c.FilterChainMatch!.ServerNames.Contains(service.Host, StringComparer.OrdinalIgnoreCase)))
                    {
                        chains.Add(TcpProxyChain($"{service.Host}:{port}", [service.Host], new TcpProxy(cluster, cluster)));
                    }
                }
                AddToListener(listeners, port, chains);
            }
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
                })
                    // listener.go mergeTCPFilterChains: of chains with the same match (no addresses), the first — by
                    // hostname, the services' order — stays; Envoy refuses two chains with one match.
                    .GroupBy(c => string.Join(',', c.FilterChainMatch!.PrefixRanges))
                    .Select(g => g.First())
                    .ToList();
                AddToListener(listeners, port, chains);
            }
        }

        // The sidecar's outbound listener of the port (0.0.0.0_<port>) gets the chains, made if there is none yet. Beside
        // TLS chains an HTTP chain keeps the plain text (transport_protocol raw_buffer). The listeners stay by port.
        private static void AddToListener(List<Listener> listeners, int port, List<FilterChain> chains)
        {
            var name = $"0.0.0.0_{port}";
            var index = listeners.FindIndex(l => l.Name == name);
            if (index < 0)
            {
                listeners.Add(new Listener(name, new Address(new SocketAddress("0.0.0.0", port)), chains));
                listeners.Sort((a, b) => a.Port.CompareTo(b.Port));
                return;
            }
            var tls = chains.Any(c => c.FilterChainMatch?.TransportProtocol == "tls");
            var existing = listeners[index].FilterChains
                .Select(c => tls && c.HttpConnectionManager is not null ? c with { FilterChainMatch = new FilterChainMatch([], "raw_buffer") } : c);
            listeners[index] = listeners[index] with { FilterChains = [.. existing, .. chains] };
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
                    return TcpProxyFor(route.Route, port, vs);
                }
            }
            return null;
        }

        // listener.go buildListenerFromEntry: a sidecar's outbound listeners are OUTBOUND, bind to no port, inspect TLS where
        // a chain matches on it, and give what no chain takes to the PassthroughFilterChain (REGISTRY_ONLY: its TCP proxy
        // goes to the BlackHoleCluster).
        private void FinishSidecarListeners(List<Listener> listeners)
        {
            var allowAny = Scope.OutboundTrafficPolicy == MeshEnvironment.AllowAny;
            var fallback = allowAny ? PassthroughCluster : BlackHoleCluster;
            var passthrough = new FilterChain("PassthroughFilterChain", null,
                [new NetworkFilter(NetworkFilter.TcpProxyName, new TcpProxy(fallback, fallback))], null);
            for (var i = 0; i < listeners.Count; i++)
            {
                var inspectsTls = listeners[i].FilterChains.Any(c => c.FilterChainMatch?.TransportProtocol == "tls");
                listeners[i] = listeners[i] with
                {
                    TrafficDirection = "OUTBOUND",
                    BindToPort = false,
                    ListenerFilters = inspectsTls ? [new ListenerFilter(ListenerFilter.TlsInspector)] : [],
                    DefaultFilterChain = passthrough,
                };
            }
        }

        // Istio's DNS proxy table (pilot/pkg/networking/dns, BuildNameTable): each service host with addresses.
        private NameTable BuildNameTable() => new(_services.Values
            .Where(s => s.Addresses.Count > 0)
            .ToDictionary(s => s.Host, s => new NameInfo([.. s.Addresses.Select(a => a.Split('/')[0])], "External"), StringComparer.OrdinalIgnoreCase));

        // tcp.go buildOutboundNetworkFilters: one destination is the TCP proxy's cluster; several are its weighted_clusters.
        // networkfilter.go buildOutboundNetworkFiltersWithWeightedClusters: stat_prefix "<VirtualService>.<namespace>".
        private TcpProxy TcpProxyFor(IReadOnlyList<RouteDestination> route, int port, IstioVirtualService vs)
        {
            if (route.Count == 1)
            {
                var cluster = DestinationCluster(route[0].Destination, port);
                return new TcpProxy(cluster, cluster);
            }
            var weighted = route.Where(d => (d.Weight ?? 0) > 0)
                .Select(d => new TcpProxyClusterWeight(DestinationCluster(d.Destination, port), d.Weight!.Value))
                .ToList();
            return new TcpProxy($"{vs.Id.Name}.{NamespaceOf(vs)}", null) { WeightedClusters = new TcpProxyWeightedCluster(weighted) };
        }

        // The source part of a match (route.go sourceMatchHTTP, tls.go / tcp.go matchTLS and matchTCP): the gateways it
        // names, else sourceLabels ⊆ the proxy's labels and sourceNamespace.
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
