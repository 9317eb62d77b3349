using Demo.EgressGateway.Istio;

namespace Demo.EgressGateway.Mesh;

/// <summary>Turns a checked <see cref="IstioConfigSet"/> into a <see cref="MeshConfig"/>.</summary>
public sealed class MeshConfigCompiler(ClusterStateRegistry clusterState, EgressGatewayOptions options)
{
    public MeshConfig Compile(IstioConfigSet config, int revision) =>
        new Compilation(config, options.ToMeshEnvironment(), clusterState).Build(revision);

    private sealed class Compilation(IstioConfigSet config, MeshEnvironment environment, ClusterStateRegistry clusterState)
    {
        private readonly List<ServiceEntry> _serviceEntries = config.OfKind<ServiceEntry>().ToList();
        private readonly List<DestinationRule> _rules = config.OfKind<DestinationRule>().ToList();
        private readonly Dictionary<string, Cluster> _clusters = new(StringComparer.Ordinal);
        private readonly List<Gateway> _gateways = config.OfKind<Gateway>()
            .Where(g => environment.GatewayLabels.All(l => g.Selector.TryGetValue(l.Key, out var v) && v == l.Value))
            .ToList();

        public MeshConfig Build(int revision)
        {
            var gateways = _gateways;

            var meshHosts = new List<(string, RouteTable)>();
            var gatewayHosts = new List<(string, RouteTable)>();
            foreach (var vs in config.OfKind<VirtualService>())
            {
                var bound = vs.Gateways.Count == 0 ? [MeshEnvironment.MeshGateway] : vs.Gateways;
                var table = new RouteTable(vs.Id.Name, vs.Http.Select(r => CompileRoute(vs, r)).ToList());
                foreach (var host in vs.Hosts)
                {
                    if (bound.Contains(MeshEnvironment.MeshGateway))
                    {
                        meshHosts.Add((host, table));
                    }
                    if (bound.Any(reference => reference != MeshEnvironment.MeshGateway && IstioAnalyzer.FindGateway(gateways, reference) is not null))
                    {
                        gatewayHosts.Add((host, table));
                    }
                }
            }
            AddDefaultRoutes(meshHosts);

            var registry = _serviceEntries
                .SelectMany(se => se.Hosts.SelectMany(h => se.Ports.Select(p => (h, p.Number))))
                .ToList();
            return new MeshConfig(revision, config, environment, meshHosts, gatewayHosts, registry)
            {
                GatewayName = gateways.FirstOrDefault()?.Id.Name ?? "",
            };
        }

        // A registered host that no VirtualService routes still has Istio's default route: straight to its cluster.
        private void AddDefaultRoutes(List<(string Pattern, RouteTable Table)> meshHosts)
        {
            foreach (var entry in _serviceEntries)
            {
                foreach (var host in entry.Hosts.Where(h => !h.Contains('*') && !meshHosts.Any(m => IstioAnalyzer.HostMatches(m.Pattern, h))))
                {
                    var service = new VirtualService(new ResourceId("VirtualService", $"default-route-{host}", null, entry.Id.File),
                        [host], [MeshEnvironment.MeshGateway], []);
                    var ports = entry.Ports.Count == 0 ? [new ServicePort(80, null, null)] : entry.Ports;
                    var routes = ports.Select(port => CompileRoute(service, new HttpRoute(0, "default",
                            [new HttpMatch(null, null, null, null, [], [], [], port.Number, [], false)],
                            [new RouteDestination(new Destination(host, null, port.Number), null, null, "spec.http[0].route[0]")],
                            null, null, null, null, null, null)))
                        .ToList();
                    meshHosts.Add((host, new RouteTable(service.Id.Name, routes)));
                }
            }
        }

        private CompiledRoute CompileRoute(VirtualService vs, HttpRoute route)
        {
            var cumulative = 0;
            var destinations = new List<CompiledDestination>();
            foreach (var d in route.Route)
            {
                cumulative += route.Route.Count == 1 ? 100 : d.Weight ?? 0;
                destinations.Add(new CompiledDestination
                {
                    Source = d,
                    CumulativeWeight = cumulative,
                    Cluster = ResolveCluster(d.Destination),
                    HostHeader = IstioAnalyzer.HostHeader(d, route),
                    RequestHeaderOperations = new[] { route.Headers?.Request, d.Headers?.Request }.OfType<HeaderOperations>().ToList(),
                    ResponseHeaderOperations = new[] { route.Headers?.Response, d.Headers?.Response }.OfType<HeaderOperations>().ToList(),
                });
            }
            var retry = RetryPolicy.From(route.Retries);
            return new CompiledRoute
            {
                VirtualService = vs,
                Route = route,
                Name = route.Name ?? $"{vs.Id.Name}.{route.Index}",
                Destinations = destinations,
                TotalWeight = cumulative,
                Retry = retry,
                Pipeline = retry.BuildPipeline(route.Timeout),
            };
        }

        private Cluster ResolveCluster(Destination destination)
        {
            var port = destination.Port ?? DefaultPort(destination.Host);
            var name = $"outbound|{port}|{destination.Subset}|{destination.Host}";
            if (_clusters.TryGetValue(name, out var existing))
            {
                return existing;
            }

            var rule = _rules.FirstOrDefault(r => IstioAnalyzer.HostMatches(r.Host, destination.Host));
            var subsetPolicy = rule?.Subsets.FirstOrDefault(s => s.Name == destination.Subset)?.TrafficPolicy;
            var tls = IstioAnalyzer.EffectiveTls(subsetPolicy, port) ?? IstioAnalyzer.EffectiveTls(rule?.TrafficPolicy, port);
            var pool = PortLevel(subsetPolicy, port)?.ConnectionPool ?? subsetPolicy?.ConnectionPool
                ?? PortLevel(rule?.TrafficPolicy, port)?.ConnectionPool ?? rule?.TrafficPolicy?.ConnectionPool;
            var outlier = PortLevel(subsetPolicy, port)?.OutlierDetection ?? subsetPolicy?.OutlierDetection
                ?? PortLevel(rule?.TrafficPolicy, port)?.OutlierDetection ?? rule?.TrafficPolicy?.OutlierDetection;
            var isGateway = IstioAnalyzer.HostMatches(environment.EgressGatewayService, destination.Host);
            var originatesTls = !isGateway && tls is { Mode: "SIMPLE" or "MUTUAL" };
            // Without an sni, Istio's sidecar presents its own cluster name, which only a '*' server accepts.
            var gatewaySni = isGateway ? tls?.Sni ?? $"outbound_.{port}_.{destination.Subset}_.{destination.Host}" : null;

            var cluster = new Cluster
            {
                Name = name,
                Host = destination.Host,
                Port = port,
                Subset = destination.Subset,
                IsEgressGateway = isGateway,
                GatewaySni = gatewaySni,
                GatewayAcceptsSni = gatewaySni is not null && _gateways.Any(g => g.Servers.Any(s => s.Port.Number == port
                    && s.Hosts.Any(h => IstioAnalyzer.HostMatches(IstioAnalyzer.StripNamespace(h), gatewaySni)))),
                Transport = isGateway ? null : new UpstreamTransport(destination.Host, port, originatesTls, tls?.Sni,
                    tls?.SubjectAltNames ?? [], tls?.InsecureSkipVerify ?? false, tls?.CaCertificates,
                    pool?.MaxConnections, pool?.ConnectTimeout),
                Outlier = OutlierSettings.From(outlier),
                Detector = clusterState.Detector(name),
                Pool = clusterState.Pool(name, pool),
                // TLS, when originated, is added by the upstream client's connect step (see UpstreamClientFactory).
                DestinationPrefix = $"http://{destination.Host}:{port}",
            };
            _clusters[name] = cluster;
            return cluster;
        }

        // A destination without a port uses the service's only port, as Istio does.
        private int DefaultPort(string host) =>
            _serviceEntries.FirstOrDefault(se => se.Hosts.Any(h => IstioAnalyzer.HostMatches(h, host)))?.Ports is [var only]
                ? only.Number
                : 80;

        private static PortTrafficPolicy? PortLevel(TrafficPolicy? policy, int port) =>
            policy?.PortLevelSettings.FirstOrDefault(p => p.Port == port);
    }
}
