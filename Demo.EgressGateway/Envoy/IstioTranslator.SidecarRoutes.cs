using System.Globalization;
using Demo.EgressGateway.Istio;

namespace Demo.EgressGateway.Envoy;

// istiod httproute.go BuildSidecarOutboundVirtualHosts: the sidecar's outbound listeners and virtual hosts.
public static partial class IstioTranslator
{
    private sealed partial class ProxyTranslation
    {
        // ---- sidecar: httproute.go BuildSidecarOutboundVirtualHosts / route.go BuildSidecarVirtualHostWrapper ----

        private void BuildSidecarListeners(List<Listener> listeners, List<RouteConfiguration> routeConfigs)
        {
            var meshServices = VisibleVirtualServices()
                .Where(vs => vs.Gateways.Count == 0 || vs.Gateways.Contains(MeshEnvironment.MeshGateway))
                .ToList();
            var ports = _services.Values
                .SelectMany(s => s.Ports.Where(IsHttp).Select(p => p.Number))
                .Append(80)
                .Distinct()
                .Order()
                .ToList();
            foreach (var port in ports)
            {
                var virtualHosts = new List<VirtualHost>();
                var routed = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
                foreach (var vs in meshServices)
                {
                    var routes = BuildRoutes(vs, port, [MeshEnvironment.MeshGateway], sourceIsWorkload: true);
                    if (routes.Count == 0)
                    {
                        continue;
                    }
                    var matching = new List<string>();
                    var nonRegistry = new List<string>();
                    foreach (var host in vs.Hosts)
                    {
                        var services = ServicesOf(host).Where(s => !routed.Contains(s.Host)).ToList();
                        if (services.Count == 0)
                        {
                            nonRegistry.Add(host);
                        }
                        matching.AddRange(services.Where(s => s.Ports.Any(p => p.Number == port && IsHttp(p))).Select(s => s.Host));
                    }
                    var hadHttpService = vs.Hosts.Any(h => ServicesOf(h).Any(s => s.Ports.Any(IsHttp)));
                    // route.go: a VirtualService whose hosts match no HTTP service still gets a virtual host on port 80.
                    var domains = matching.Distinct(StringComparer.OrdinalIgnoreCase)
                        .Concat(!hadHttpService && port == 80 ? nonRegistry : [])
                        .ToList();
                    if (domains.Count == 0)
                    {
                        continue;
                    }
                    foreach (var host in domains)
                    {
                        routed.Add(host);
                        virtualHosts.Add(new VirtualHost($"{host}:{port}", SidecarDomains(host), routes));
                    }
                }
                foreach (var service in _services.Values.Where(s => !routed.Contains(s.Host)))
                {
                    if (service.Ports.FirstOrDefault(p => p.Number == port) is not { } servicePort || !IsHttp(servicePort))
                    {
                        continue;
                    }
                    var cluster = ClusterName(port, null, service.Host);
                    virtualHosts.Add(new VirtualHost($"{service.Host}:{port}", SidecarDomains(service.Host),
                    [
                        new Route(DefaultRouteName, CatchAll())
                        {
                            // route.go buildSidecarVirtualHostForService: the DestinationRule's consistentHash as the
                            // default route's hash policy ("if this host has no virtualservice, ... useless" otherwise).
                            Action = new RouteAction(cluster, null, null, null, TimeSpan.Zero, ConvertRetryPolicy(null, environment.IstioVersion))
                            {
                                HashPolicy = HashPolicyFor(new Destination(service.Host, null, port), port),
                            },
                            Decorator = new Decorator($"{service.Host}:{port}/*"),
                        },
                    ]));
                }
                virtualHosts.Add(CatchAllVirtualHost());
                var name = port.ToString(CultureInfo.InvariantCulture);
                routeConfigs.Add(new RouteConfiguration(name, virtualHosts));
                listeners.Add(new Listener($"0.0.0.0_{port}", new Address(new SocketAddress("0.0.0.0", port)),
                    [new FilterChain($"0.0.0.0_{port}", null, [HttpConnectionManagerFor(name, $"outbound_0.0.0.0_{port}", spawnUpstreamSpan: false)], null)]));
            }
        }

        // The services a VirtualService host names: the one of that name, or for a wildcard every one it covers.
        private IEnumerable<Service> ServicesOf(string host) =>
            host.Contains('*') ? _services.Values.Where(s => HostMatches(host, s.Host))
            : _services.TryGetValue(host, out var service) ? [service] : [];

        // httproute.go BuildCatchAllVirtualHost: REGISTRY_ONLY (the demo's Sidecar outboundTrafficPolicy) gives everything
        // else Istio's block_all, a 502 direct response; ALLOW_ANY the allow_any route to the PassthroughCluster, no
        // timeout, no retry policy. Neither route has a decorator.
        private VirtualHost CatchAllVirtualHost()
        {
            if (Scope.OutboundTrafficPolicy != MeshEnvironment.AllowAny)
            {
                return new VirtualHost(BlockAllRoute, ["*"],
                [
                    new Route(BlockAllRoute, CatchAll()) { DirectResponse = new DirectResponseAction(502, null) },
                ]);
            }
            AddPassthroughCluster();
            return new VirtualHost(AllowAnyRoute, ["*"],
            [
                new Route(AllowAnyRoute, CatchAll()) { Action = new RouteAction(PassthroughCluster, null, null, null, TimeSpan.Zero, null) },
            ]);
        }

        // cluster_builder.go buildDefaultPassthroughCluster: ORIGINAL_DST, CLUSTER_PROVIDED, the mesh's connect timeout,
        // the downstream's protocol upstream, and the default connection pool's limits (2^32−1).
        private void AddPassthroughCluster() => _clusters.TryAdd(PassthroughCluster, new Cluster(PassthroughCluster, "ORIGINAL_DST",
            DefaultConnectTimeout, "CLUSTER_PROVIDED", DefaultCircuitBreakers(), ClusterMetadata(PassthroughCluster, null, null))
        {
            TypedExtensionProtocolOptions = new(new HttpProtocolOptions(null, null, null, new UseDownstreamHttpConfig())),
        });

        // Istio writes the host without its port and sets ignore_port_in_host_matching on the route configuration.
        private static IReadOnlyList<string> Domains(string host, int port) => [host];

        // httproute.go buildSidecarOutboundVirtualHosts: a service's virtual host also gets GenerateAltVirtualHosts'
        // names — from 1.27 the absolute name with its trailing dot (not for an IP); a VirtualService host that is no
        // service gets only its own name. (The short Kubernetes forms of the gateway's Service are not modelled.)
        private IReadOnlyList<string> SidecarDomains(string host) =>
            Version.SidecarVirtualHostsMatchTheAbsoluteName && _services.ContainsKey(host) && !System.Net.IPAddress.TryParse(host, out _)
                ? [host, host + "."]
                : [host];

        private static RouteMatch CatchAll() => new("/", null, null, null, [], []);
    }
}
