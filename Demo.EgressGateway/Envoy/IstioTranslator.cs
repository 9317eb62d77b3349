using System.Globalization;
using Demo.EgressGateway.Istio;
using IstioDestinationRule = Demo.EgressGateway.Istio.DestinationRule;
using IstioGateway = Demo.EgressGateway.Istio.Gateway;
using IstioHttpFault = Demo.EgressGateway.Istio.HttpFault;
using IstioHttpRoute = Demo.EgressGateway.Istio.HttpRoute;
using IstioOutlierDetection = Demo.EgressGateway.Istio.OutlierDetection;
using IstioServiceEntry = Demo.EgressGateway.Istio.ServiceEntry;
using IstioVirtualService = Demo.EgressGateway.Istio.VirtualService;

namespace Demo.EgressGateway.Envoy;

/// <summary>The configuration istiod would push to the two proxies on the egress path.</summary>
/// <param name="Sidecar">The calling workload's sidecar (namespace <see cref="MeshEnvironment.WorkloadNamespace"/>).</param>
/// <param name="Gateway">Istio's egress gateway (namespace <see cref="MeshEnvironment.GatewayNamespace"/>).</param>
public sealed record MeshXds(ProxyConfig Sidecar, ProxyConfig Gateway);

/// <summary>
/// Istio resources → Envoy configuration, re-expressed from istiod's own translation (istio/istio
/// <c>pilot/pkg/networking/core</c>: <c>route/route.go</c> TranslateRoute / applyHTTPRouteDestination /
/// TranslateRouteMatch / TranslateFault / TranslateHeadersOperations, <c>route/retry/retry.go</c> ConvertPolicy,
/// <c>cluster_traffic_policy.go</c> applyOutlierDetection / circuit breakers, <c>cluster_tls.go</c>,
/// <c>gateway.go</c>, <c>httproute.go</c>, and <c>model/push_context.go</c> for visibility and DestinationRule
/// lookup). The data plane executes only this translated form.
/// </summary>
/// <remarks>
/// A resource without <c>metadata.namespace</c> is treated as living in the namespace of whichever proxy looks at
/// it (so a namespace-less test configuration is visible to both); <c>deploy/istio</c> states its namespaces, and
/// <c>exportTo</c> then decides, as in the cluster.
/// </remarks>
public static class IstioTranslator
{
    public const string BlackHoleCluster = "BlackHoleCluster";
    public const string BlockAllRoute = "block_all";
    public const string DefaultRouteName = "default";
    public const string RootNamespace = "istio-system";

    /// <summary>Envoy's default retry back-off base interval (25 ms).</summary>
    public static readonly TimeSpan DefaultRetryBaseInterval = TimeSpan.FromMilliseconds(25);

    /// <summary>Istio's default connect timeout (meshConfig.connectTimeout: 10 s).</summary>
    public static readonly TimeSpan DefaultConnectTimeout = TimeSpan.FromSeconds(10);

    private const string DefaultRetryOn = "connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes";

    public static MeshXds Translate(IstioConfigSet config, MeshEnvironment environment)
    {
        var sidecar = new ProxyTranslation(config, environment, environment.WorkloadNamespace, isGateway: false).Build();
        var gateway = new ProxyTranslation(config, environment, environment.GatewayNamespace, isGateway: true).Build();
        return new MeshXds(sidecar, gateway);
    }

    /// <summary>Istio's <c>exportTo</c>: empty or <c>*</c> = everywhere, <c>.</c> = the owner's namespace, <c>~</c> = nowhere.</summary>
    public static bool IsExportedTo(IReadOnlyList<string> exportTo, string ownerNamespace, string viewerNamespace)
    {
        if (exportTo.Count == 0)
        {
            return true;
        }
        foreach (var target in exportTo)
        {
            if (target == "*" || target == viewerNamespace || (target == "." && ownerNamespace == viewerNamespace))
            {
                return true;
            }
        }
        return false;
    }

    /// <summary>Istio's retry translation (retry.go ConvertPolicy) for <paramref name="version"/>.</summary>
    /// <returns>Null when <c>attempts</c> is 0 (retries disabled).</returns>
    public static RetryPolicy? ConvertRetryPolicy(HttpRetry? retries, IstioVersion version)
    {
        IReadOnlyList<int> defaultCodes = version.DefaultRetryPolicyRetries503 ? [503] : [];
        IReadOnlyList<string> previousHosts = ["envoy.retry_host_predicates.previous_hosts"];
        if (retries is null)
        {
            return new RetryPolicy(DefaultRetryOn, 2, null, defaultCodes, null, 5, previousHosts);
        }
        if (retries.Attempts <= 0)
        {
            return null;
        }
        var retryOn = DefaultRetryOn;
        var codes = defaultCodes;
        if (!string.IsNullOrEmpty(retries.RetryOn))
        {
            (retryOn, codes) = ParseRetryOn(retries.RetryOn);
            if (codes.Count > 0 && !retryOn.Contains("retriable-status-codes", StringComparison.Ordinal))
            {
                retryOn += ",retriable-status-codes";
            }
        }
        var predicates = retries.RetryIgnorePreviousHosts is false ? [] : previousHosts;
        return new RetryPolicy(retryOn, retries.Attempts, retries.PerTryTimeout, codes, retries.Backoff, 5, predicates);
    }

    // Integers that Go's http.StatusText knows are status codes; anything else stays a retry_on condition.
    private static (string RetryOn, IReadOnlyList<int> Codes) ParseRetryOn(string retryOn)
    {
        var codes = new List<int>();
        var conditions = new List<string>();
        foreach (var raw in retryOn.Split(','))
        {
            var part = raw.Trim();
            if (part.Length == 0)
            {
                continue;
            }
            if (int.TryParse(part, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var code) && IsKnownStatus(code))
            {
                codes.Add(code);
            }
            else
            {
                conditions.Add(part);
            }
        }
        return (string.Join(',', conditions), codes);
    }

    /// <summary>The codes Go's <c>net/http.StatusText</c> names (what istiod's parseRetryOn accepts as a code).</summary>
    public static bool IsKnownStatus(int code) => code is (>= 100 and <= 103) or (>= 200 and <= 208) or 226
        or (>= 300 and <= 305) or 307 or 308 or (>= 400 and <= 418) or (>= 421 and <= 426) or 428 or 429 or 431 or 451
        or (>= 500 and <= 508) or 510 or 511;

    /// <summary>Istio's host matching between a (possibly wildcard) pattern and a concrete name.</summary>
    public static bool HostMatches(string pattern, string host) => IstioAnalyzer.HostMatches(pattern, host);

    /// <summary>One entry of a host's consolidated DestinationRules (model.ConsolidatedDestRule): the merged rule and the exportTo it is indexed with.</summary>
    private sealed record ConsolidatedRule(IstioDestinationRule Rule, IReadOnlySet<string> ExportTo);

    /// <summary>
    /// Istio's three DestinationRule indexes (push_context.go setDestinationRules), host → consolidated entries:
    /// per namespace the rules its own proxies see, per namespace the rules it exports, and the root namespace's
    /// private ones.
    /// </summary>
    private sealed record RuleIndexes(
        Dictionary<string, Dictionary<string, List<ConsolidatedRule>>> NamespaceLocal,
        Dictionary<string, Dictionary<string, List<ConsolidatedRule>>> Exported,
        Dictionary<string, List<ConsolidatedRule>> RootNamespaceLocal)
    {
        public static RuleIndexes Build(IEnumerable<IstioDestinationRule> rules, Func<IstioResource, string> namespaceOf, IstioVersion version)
        {
            var indexes = new RuleIndexes(new(StringComparer.Ordinal), new(StringComparer.Ordinal), new(StringComparer.OrdinalIgnoreCase));
            // sortConfigBySelectorAndCreationTime: creation time, then name, then namespace. The YAML carries no
            // creation time (the API server sets it); rules applied together share its one-second resolution, so
            // name and namespace decide, as they do in istiod then.
            foreach (var rule in rules.OrderBy(r => r.Id.Name, StringComparer.Ordinal).ThenBy(r => namespaceOf(r), StringComparer.Ordinal))
            {
                var ns = namespaceOf(rule);
                var exportTo = rule.ExportTo.ToHashSet(StringComparer.Ordinal);
                if (exportTo.Count == 0 || exportTo.Contains("*") || exportTo.Contains(".") || exportTo.Contains(ns))
                {
                    Merge(For(indexes.NamespaceLocal, ns), rule, exportTo, version);
                }
                // Private only: exportTo is just "." or the rule's own namespace (the mesh default exportTo is "*").
                var privateOnly = exportTo.Count == 1 && (exportTo.Contains(".") || exportTo.Contains(ns));
                if (!privateOnly)
                {
                    Merge(For(indexes.Exported, ns), rule, exportTo, version);
                }
                else if (ns == RootNamespace)
                {
                    Merge(indexes.RootNamespaceLocal, rule, exportTo, version);
                }
            }
            return indexes;
        }

        private static Dictionary<string, List<ConsolidatedRule>> For(Dictionary<string, Dictionary<string, List<ConsolidatedRule>>> byNamespace, string ns)
        {
            if (!byNamespace.TryGetValue(ns, out var index))
            {
                byNamespace[ns] = index = new(StringComparer.OrdinalIgnoreCase);
            }
            return index;
        }

        // destination_rule.go mergeDestinationRule. Up to 1.23 a rule for a host already indexed is merged into it
        // (the entry takes the first explicit exportTo). From 1.24 (ENABLE_ENHANCED_DESTINATIONRULE_MERGE) only into an
        // entry with the same exportTo or whose non-empty exportTo the rule's covers; against any other entry the
        // rule stays a separate one — as Istio's loop does, the last entry compared decides whether it is appended.
        private static void Merge(Dictionary<string, List<ConsolidatedRule>> index, IstioDestinationRule rule, IReadOnlySet<string> exportTo, IstioVersion version)
        {
            if (!index.TryGetValue(rule.Host, out var entries))
            {
                index[rule.Host] = [new ConsolidatedRule(rule, exportTo)];
                return;
            }
            var appendSeparately = true;
            for (var i = 0; i < entries.Count; i++)
            {
                var existing = entries[i];
                if (!version.MergesDestinationRulesWithDifferentExportTo
                    && !exportTo.SetEquals(existing.ExportTo)
                    && !(existing.ExportTo.Count > 0 && exportTo.IsSupersetOf(existing.ExportTo)))
                {
                    appendSeparately = true;
                    continue;
                }
                // Both without a workloadSelector: merged, not appended.
                appendSeparately = false;
                var mergedExportTo = version.MergesDestinationRulesWithDifferentExportTo && existing.ExportTo.Count == 0 && exportTo.Count > 0
                    ? exportTo
                    : existing.ExportTo;
                entries[i] = new ConsolidatedRule(existing.Rule with
                {
                    // Subsets of a name already there are dropped; the first rule's trafficPolicy stays unless it has none.
                    Subsets = [.. existing.Rule.Subsets, .. rule.Subsets.Where(s => existing.Rule.Subsets.All(e => e.Name != s.Name))],
                    TrafficPolicy = existing.Rule.TrafficPolicy ?? rule.TrafficPolicy,
                }, mergedExportTo);
            }
            if (appendSeparately)
            {
                entries.Add(new ConsolidatedRule(rule, exportTo));
            }
        }
    }

    private sealed record Service(
        string Host,
        string Namespace,
        IReadOnlyList<ServicePort> Ports,
        string Resolution,
        IReadOnlyList<WorkloadEntry> Endpoints,
        IReadOnlyList<string> SubjectAltNames,
        string ConfigSource,
        bool IsEgressGatewayService);

    private sealed class ProxyTranslation(IstioConfigSet config, MeshEnvironment environment, string proxyNamespace, bool isGateway)
    {
        private readonly Dictionary<string, Service> _services = new(StringComparer.OrdinalIgnoreCase);
        private readonly Dictionary<string, Cluster> _clusters = new(StringComparer.Ordinal);

        private string NamespaceOf(IstioResource resource) => resource.Id.Namespace ?? proxyNamespace;

        private IstioVersion Version => environment.IstioVersion;

        public ProxyConfig Build()
        {
            CollectServices();
            var listeners = new List<Listener>();
            var routeConfigs = new List<RouteConfiguration>();
            if (isGateway)
            {
                BuildGatewayListeners(listeners, routeConfigs);
            }
            else
            {
                BuildSidecarListeners(listeners, routeConfigs);
            }
            foreach (var service in _services.Values)
            {
                foreach (var port in service.Ports)
                {
                    AddClusters(service, port);
                }
            }
            var node = isGateway
                ? $"router~127.0.0.1~istio-egressgateway.{proxyNamespace}~{proxyNamespace}.svc.cluster.local"
                : $"sidecar~127.0.0.1~{environment.WorkloadLabels.GetValueOrDefault("app", "workload")}.{proxyNamespace}~{proxyNamespace}.svc.cluster.local";
            return new ProxyConfig(node, proxyNamespace, listeners, routeConfigs,
                _clusters.Values.OrderBy(c => c.Name, StringComparer.Ordinal).ToList())
            {
                ExplicitInternalAddressConfig = !Version.GatewayTreatsPrivateAddressesAsInternal,
            };
        }

        // The services this proxy sees, one per hostname (push_context.go initServiceRegistry /
        // servicesExportedToNamespace, sidecar.go selectServices / appendSidecarServices). Candidates in Istio's order:
        // the proxy namespace's private services, those exported to it by name, then the public ones, each list by
        // creation time. The egress gateway's Kubernetes Service (ports 80 http2 and 443 https, as Istio's
        // installation creates it) is the oldest; ServiceEntry hosts follow by hostname, then namespace (the YAML has no
        // creation time; see RuleIndexes.Build).
        private void CollectServices()
        {
            var all = new List<(Service Service, IReadOnlyList<string> ExportTo)>
            {
                (new Service(environment.EgressGatewayService, environment.GatewayNamespace,
                    [new ServicePort(80, "http2", "HTTP2"), new ServicePort(443, "https", "HTTPS")], "STATIC", [], [], "kubernetes",
                    IsEgressGatewayService: true), []),
            };
            all.AddRange(config.OfKind<IstioServiceEntry>()
                .SelectMany(entry => entry.Hosts.Select(host => (Service: new Service(host, NamespaceOf(entry), entry.Ports, entry.Resolution,
                    entry.Endpoints, entry.SubjectAltNames, ConfigSource(entry), IsEgressGatewayService: false), entry.ExportTo)))
                .OrderBy(s => s.Service.Host, StringComparer.Ordinal)
                .ThenBy(s => s.Service.Namespace, StringComparer.Ordinal));
            bool IsPublic(IReadOnlyList<string> exportTo) => exportTo.Count == 0 || exportTo.Contains("*");
            var candidates = all
                .Where(s => !IsPublic(s.ExportTo) && !s.ExportTo.Contains("~")
                    && s.ExportTo.Any(e => (e == "." || e == s.Service.Namespace) && s.Service.Namespace == proxyNamespace))
                .Concat(all.Where(s => !IsPublic(s.ExportTo) && !s.ExportTo.Contains("~")
                    && s.ExportTo.Any(e => e != "." && e != s.Service.Namespace && e == proxyNamespace)))
                .Concat(all.Where(s => IsPublic(s.ExportTo)))
                .ToList();
            if (!isGateway)
            {
                // A sidecar goes through its Sidecar resource (the demo's namespace has one: REGISTRY_ONLY; its egress
                // hosts are not modelled, everything exported here is imported): one namespace per hostname — the
                // first seen, but the proxy's own namespace wins, and from 1.24 a Kubernetes Service wins over a
                // ServiceEntry unless the ServiceEntry is in the proxy's namespace.
                var chosen = new Dictionary<string, (string Namespace, bool Kubernetes)>(StringComparer.OrdinalIgnoreCase);
                foreach (var (service, _) in candidates)
                {
                    if (!chosen.TryGetValue(service.Host, out var existing) || service.Namespace == proxyNamespace
                        || (Version.SidecarPrefersKubernetesServiceForSharedHostname && !existing.Kubernetes && service.IsEgressGatewayService
                            && existing.Namespace != proxyNamespace))
                    {
                        chosen[service.Host] = (service.Namespace, service.IsEgressGatewayService);
                    }
                }
                candidates = candidates.Where(s => chosen[s.Service.Host].Namespace == s.Service.Namespace).ToList();
            }
            // appendSidecarServices: the first of a hostname stays, except that a Kubernetes Service replaces a
            // ServiceEntry; another ServiceEntry of the same namespace, resolution and exportTo adds its ports.
            var merged = new Dictionary<string, (Service Service, IReadOnlyList<string> ExportTo)>(StringComparer.OrdinalIgnoreCase);
            foreach (var candidate in candidates)
            {
                var service = candidate.Service;
                if (!merged.TryGetValue(service.Host, out var existing)
                    || (!existing.Service.IsEgressGatewayService && service.IsEgressGatewayService))
                {
                    merged[service.Host] = candidate;
                }
                else if (!existing.Service.IsEgressGatewayService && !service.IsEgressGatewayService
                    && existing.Service.Namespace == service.Namespace && existing.Service.Resolution == service.Resolution
                    && existing.ExportTo.Order().SequenceEqual(candidate.ExportTo.Order()))
                {
                    merged[service.Host] = (existing.Service with
                    {
                        Ports = [.. existing.Service.Ports, .. service.Ports.Where(p => existing.Service.Ports.All(e => e.Number != p.Number))],
                    }, existing.ExportTo);
                }
            }
            foreach (var (host, entry) in merged)
            {
                _services[host] = entry.Service;
            }
        }

        private static bool IsHttp(ServicePort port) => port.Protocol is null or "HTTP" or "HTTP2" or "GRPC";

        private static string ConfigSource(IstioResource resource) =>
            $"/apis/networking.istio.io/v1/namespaces/{resource.Id.Namespace ?? "-"}/{KebabKind(resource.Id.Kind)}/{resource.Id.Name}";

        private static string KebabKind(string kind) => kind switch
        {
            "VirtualService" => "virtual-service",
            "DestinationRule" => "destination-rule",
            "ServiceEntry" => "service-entry",
            _ => kind.ToLowerInvariant(),
        };

        private IEnumerable<IstioVirtualService> VisibleVirtualServices() =>
            config.OfKind<IstioVirtualService>().Where(vs => IsExportedTo(vs.ExportTo, NamespaceOf(vs), proxyNamespace));

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
                        var services = _services.Values.Where(s => !routed.Contains(s.Host)
                            && (host.Contains('*') ? HostMatches(host, s.Host) : string.Equals(host, s.Host, StringComparison.OrdinalIgnoreCase))).ToList();
                        if (services.Count == 0)
                        {
                            nonRegistry.Add(host);
                        }
                        matching.AddRange(services.Where(s => s.Ports.Any(p => p.Number == port && IsHttp(p))).Select(s => s.Host));
                    }
                    var hadHttpService = vs.Hosts.Any(h => _services.Values.Any(s => HostMatches(h, s.Host) && s.Ports.Any(IsHttp)));
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
                        new Route(DefaultRouteName, CatchAll(), new RouteAction(cluster, null, null, null, TimeSpan.Zero,
                                ConvertRetryPolicy(null, environment.IstioVersion)),
                            null, null, HeaderOperations.None, HeaderOperations.None, $"{service.Host}:{port}/*", null),
                    ]));
                }
                // REGISTRY_ONLY (the demo's Sidecar outboundTrafficPolicy): everything else gets Istio's block_all.
                virtualHosts.Add(new VirtualHost(BlockAllRoute, ["*"],
                [
                    // httproute.go: Istio's block_all route has no decorator.
                    new Route(BlockAllRoute, CatchAll(), null, new DirectResponseAction(502, null), null,
                        HeaderOperations.None, HeaderOperations.None, "", null),
                ]));
                var name = port.ToString(CultureInfo.InvariantCulture);
                routeConfigs.Add(new RouteConfiguration(name, virtualHosts));
                listeners.Add(new Listener($"0.0.0.0_{port}", new SocketAddress("0.0.0.0", port),
                    [new FilterChain($"0.0.0.0_{port}", null, name, null)]));
            }
        }

        // Istio writes the host without its port and sets ignore_port_in_host_matching on the route configuration.
        private static IReadOnlyList<string> Domains(string host, int port) => [host];

        // httproute.go buildSidecarOutboundVirtualHosts: a service's virtual host also gets GenerateAltVirtualHosts'
        // names — from 1.27 the absolute name with its trailing dot (not for an IP); a VirtualService host that is no
        // service gets only its own name. (The short Kubernetes forms of the gateway's Service are not modelled.)
        private IReadOnlyList<string> SidecarDomains(string host) =>
            Version.SidecarVirtualHostsMatchTheAbsoluteName && _services.ContainsKey(host) && !System.Net.IPAddress.TryParse(host, out _)
                ? [host, host + "."]
                : [host];

        private static RouteMatch CatchAll() => new("/", null, null, true, [], []);

        // ---- gateway: gateway.go buildGatewayListeners / buildGatewayHTTPRouteConfig ----

        private void BuildGatewayListeners(List<Listener> listeners, List<RouteConfiguration> routeConfigs)
        {
            var gateways = config.OfKind<IstioGateway>()
                .Where(g => environment.GatewayLabels.All(l => g.Selector.TryGetValue(l.Key, out var v) && v == l.Value))
                .ToList();
            foreach (var byPort in gateways
                .SelectMany(g => g.Servers.Select((s, i) => (Gateway: g, Server: s, Index: i)))
                .GroupBy(x => x.Server.Port.Number)
                .OrderBy(g => g.Key))
            {
                var port = byPort.Key;
                var chains = new List<FilterChain>();
                foreach (var (gateway, server, index) in byPort)
                {
                    var gatewayNamespace = NamespaceOf(gateway);
                    var terminatesTls = server.TlsMode is "SIMPLE" or "MUTUAL" or "ISTIO_MUTUAL" or "OPTIONAL_MUTUAL";
                    var routeName = terminatesTls
                        ? $"https.{port}.{server.Port.Name ?? "https"}.{gateway.Id.Name}.{gatewayNamespace}"
                        : $"http.{port}";
                    if (routeConfigs.All(r => r.Name != routeName))
                    {
                        routeConfigs.Add(BuildGatewayRouteConfig(routeName, port,
                            terminatesTls ? [(gateway, server)] : byPort.Where(x => x.Server.TlsMode is null).Select(x => (x.Gateway, x.Server)).ToList()));
                    }
                    var serverNames = terminatesTls
                        ? server.Hosts.Select(IstioAnalyzer.StripNamespace).Where(h => h != "*").Distinct(StringComparer.OrdinalIgnoreCase).ToList()
                        : [];
                    chains.Add(new FilterChain($"{gateway.Id.Name}.{gatewayNamespace}.servers[{index}]",
                        terminatesTls ? new FilterChainMatch(serverNames, "tls") : null, routeName, terminatesTls ? "tls" : null)
                    {
                        ServerTlsMode = terminatesTls ? server.TlsMode : null,
                        // tracing.go configureFromProviderConfig: startChildSpan for a router (the demo traces through
                        // the Telemetry API, deploy/cluster/telemetry-tracing.yaml).
                        SpawnUpstreamSpan = Version.GatewaySpawnsUpstreamSpan,
                    });
                }
                listeners.Add(new Listener($"0.0.0.0_{port}", new SocketAddress("0.0.0.0", port), chains));
            }
        }

        private RouteConfiguration BuildGatewayRouteConfig(string name, int port, IReadOnlyList<(IstioGateway Gateway, GatewayServer Server)> servers)
        {
            // gateway.go buildGatewayHTTPRouteConfig: every VirtualService bound to a host adds its routes to that
            // host's virtual host; SortVHostRoutes then moves catch-all routes behind the others.
            var routesByHost = new Dictionary<string, List<Route>>(StringComparer.OrdinalIgnoreCase);
            var hostOrder = new List<string>();
            foreach (var (gateway, server) in servers)
            {
                var gatewayNamespace = NamespaceOf(gateway);
                var gatewayName = $"{gatewayNamespace}/{gateway.Id.Name}";
                foreach (var vs in VisibleVirtualServices())
                {
                    var vsNamespace = NamespaceOf(vs);
                    if (!vs.Gateways.Any(reference => ResolveGatewayName(reference, vsNamespace) == gatewayName))
                    {
                        continue;
                    }
                    // gateway.go: a server host "ns/host" admits VirtualServices of ns only ("./" = the Gateway's own).
                    var hosts = vs.Hosts.Where(host => server.Hosts.Any(serverHost =>
                    {
                        var (hostNamespace, pattern) = SplitServerHost(serverHost, gatewayNamespace);
                        return (hostNamespace == "*" || hostNamespace == vsNamespace)
                            && (HostMatches(pattern, host) || HostMatches(host, pattern));
                    })).ToList();
                    if (hosts.Count == 0)
                    {
                        continue;
                    }
                    var routes = BuildRoutes(vs, port, [gatewayName], sourceIsWorkload: false);
                    if (routes.Count == 0)
                    {
                        continue;
                    }
                    foreach (var host in hosts)
                    {
                        if (!routesByHost.TryGetValue(host, out var existing))
                        {
                            routesByHost[host] = existing = [];
                            hostOrder.Add(host);
                        }
                        existing.AddRange(routes);
                    }
                }
            }
            var virtualHosts = hostOrder
                .Select(host => new VirtualHost($"{host}:{port}", Domains(host, port),
                    [.. routesByHost[host].Where(r => !IsCatchAll(r.Match)), .. routesByHost[host].Where(r => IsCatchAll(r.Match))]))
                .ToList();
            if (virtualHosts.Count == 0)
            {
                // No VirtualService for this server: Envoy answers 404 NR.
                virtualHosts.Add(new VirtualHost($"blackhole:{port}", ["*"], []));
            }
            return new RouteConfiguration(name, virtualHosts);
        }

        private static (string Namespace, string Host) SplitServerHost(string serverHost, string gatewayNamespace)
        {
            var slash = serverHost.IndexOf('/', StringComparison.Ordinal);
            if (slash < 0)
            {
                return ("*", serverHost);
            }
            var ns = serverHost[..slash];
            return (ns == "." ? gatewayNamespace : ns, serverHost[(slash + 1)..]);
        }

        // model.ResolveGatewayName: "name" is in the VirtualService's namespace; "ns/name" as written; "mesh" stays.
        private static string ResolveGatewayName(string reference, string vsNamespace) =>
            reference == MeshEnvironment.MeshGateway ? reference
            : reference.Contains('/') ? reference
            : $"{vsNamespace}/{reference.Split('.')[0]}";

        // ---- routes: route.go BuildHTTPRoutesForVirtualService / TranslateRoute ----

        private List<Route> BuildRoutes(IstioVirtualService vs, int listenPort, IReadOnlyList<string> gatewayNames, bool sourceIsWorkload)
        {
            var vsNamespace = NamespaceOf(vs);
            var routes = new List<Route>();
            foreach (var http in vs.Http)
            {
                if (http.Match.Count == 0)
                {
                    routes.Add(TranslateRoute(vs, http, null, listenPort));
                    break;
                }
                var catchAll = false;
                foreach (var match in http.Match)
                {
                    if (match.Port is { } matchPort && matchPort != listenPort)
                    {
                        continue;
                    }
                    if (!SourceMatches(match, gatewayNames, vsNamespace, sourceIsWorkload))
                    {
                        continue;
                    }
                    var route = TranslateRoute(vs, http, match, listenPort);
                    routes.Add(route);
                    if (IsCatchAll(route.Match))
                    {
                        catchAll = true;
                        break;
                    }
                }
                if (catchAll)
                {
                    break;
                }
            }
            return routes;
        }

        // route.go sourceMatchHTTP: gateways named in the match, else sourceLabels ⊆ the proxy's labels and sourceNamespace.
        private bool SourceMatches(HttpMatch match, IReadOnlyList<string> gatewayNames, string vsNamespace, bool sourceIsWorkload)
        {
            if (match.Gateways.Count > 0)
            {
                return match.Gateways.Any(g => gatewayNames.Contains(ResolveGatewayName(g, vsNamespace)));
            }
            var labels = sourceIsWorkload ? environment.WorkloadLabels : environment.GatewayLabels;
            if (!match.SourceLabels.All(l => labels.TryGetValue(l.Key, out var v) && v == l.Value))
            {
                return false;
            }
            return match.SourceNamespace is null || match.SourceNamespace == proxyNamespace;
        }

        private static bool IsCatchAll(RouteMatch match) =>
            (match.Prefix == "/" || match.SafeRegex == ".*") && match.Headers.Count == 0 && match.QueryParameters.Count == 0;

        private Route TranslateRoute(IstioVirtualService vs, IstioHttpRoute http, HttpMatch? match, int listenPort)
        {
            // route.go TranslateRoute: routeName = in.Name, then "." + match.Name when the match has one (".m1" without a route name).
            var name = match?.Name is { Length: > 0 } matchName ? $"{http.Name}.{matchName}" : http.Name;
            var routeMatch = TranslateRouteMatch(match);
            var (requestHeaders, responseHeaders, authority) = TranslateHeaders(http.Headers);

            var timeout = http.Timeout ?? TimeSpan.Zero;
            string? hostRewrite = authority;
            if (!string.IsNullOrEmpty(http.RewriteAuthority))
            {
                hostRewrite = http.RewriteAuthority;
            }
            var prefixRewrite = http.RewriteUri;

            string? cluster = null;
            WeightedCluster? weighted = null;
            if (http.Route.Count == 1)
            {
                var destination = http.Route[0];
                cluster = DestinationCluster(destination.Destination, listenPort);
                if (destination.Headers is { } headers)
                {
                    var (request, response, destinationAuthority) = TranslateHeaders(headers);
                    requestHeaders = Concat(requestHeaders, request);
                    responseHeaders = Concat(responseHeaders, response);
                    // route.go processDestination: the destination's Host only when the route sets none.
                    hostRewrite ??= destinationAuthority;
                }
            }
            else
            {
                var clusters = new List<ClusterWeight>();
                foreach (var destination in http.Route)
                {
                    var weight = destination.Weight ?? 0;
                    if (weight == 0)
                    {
                        // route.go: zero-weight destinations are dropped when the route has several.
                        continue;
                    }
                    var (request, response, destinationAuthority) = TranslateHeaders(destination.Headers);
                    clusters.Add(new ClusterWeight(DestinationCluster(destination.Destination, listenPort), weight,
                        destinationAuthority, request, response));
                }
                weighted = new WeightedCluster(clusters);
            }

            var action = new RouteAction(cluster, weighted, hostRewrite, prefixRewrite, timeout,
                ConvertRetryPolicy(http.Retries, environment.IstioVersion));
            var fault = TranslateFault(http.Fault);
            return new Route(name, routeMatch, action, null, fault, requestHeaders, responseHeaders,
                RouteOperation(routeMatch, action, vs.Id.Name, listenPort), ConfigSource(vs));
        }

        // route.go GetRouteOperation: host:port/path for one cluster, else the VirtualService's name.
        private static string RouteOperation(RouteMatch match, RouteAction action, string vsName, int port)
        {
            var path = match.Prefix is { } prefix ? prefix + "*" : match.Path ?? match.SafeRegex ?? "/*";
            if (action.Cluster is { } cluster && cluster.Split('|') is [_, var clusterPort, _, var host])
            {
                return $"{host}:{clusterPort}{path}";
            }
            return $"{vsName}:{port}{path}";
        }

        // route.go GetDestinationCluster: the destination's port, else the service's only port, else the listener's.
        private string DestinationCluster(Destination destination, int listenPort)
        {
            var port = destination.Port
                ?? (_services.TryGetValue(destination.Host, out var service) && service.Ports.Count == 1 ? service.Ports[0].Number : listenPort);
            return ClusterName(port, destination.Subset, destination.Host);
        }

        public static string ClusterName(int port, string? subset, string host) => $"outbound|{port}|{subset}|{host}";

        private static HeaderOperations Concat(HeaderOperations first, HeaderOperations second) =>
            first.IsEmpty ? second : second.IsEmpty ? first : new([.. first.ToAdd, .. second.ToAdd], [.. first.ToRemove, .. second.ToRemove]);

        // route.go TranslateHeadersOperations: Host/:authority in set (or add) becomes the authority rewrite; the
        // pseudo-headers and Host are never added or removed as plain headers.
        private static (HeaderOperations Request, HeaderOperations Response, string? Authority) TranslateHeaders(Headers? headers)
        {
            if (headers is null)
            {
                return (HeaderOperations.None, HeaderOperations.None, null);
            }
            var (requestSet, setAuthority) = AppendHeaders(headers.Request?.Set, append: false);
            var (requestAdd, addAuthority) = AppendHeaders(headers.Request?.Add, append: true);
            var (responseSet, _) = AppendHeaders(headers.Response?.Set, append: false);
            var (responseAdd, _) = AppendHeaders(headers.Response?.Add, append: true);
            var request = new HeaderOperations([.. requestSet, .. requestAdd], DropInternal(headers.Request?.Remove));
            var response = new HeaderOperations([.. responseSet, .. responseAdd], DropInternal(headers.Response?.Remove));
            return (request, response, setAuthority ?? addAuthority);
        }

        private static (List<HeaderValueOption> Options, string? Authority) AppendHeaders(IReadOnlyList<KeyValuePair<string, string>>? headers, bool append)
        {
            var options = new List<HeaderValueOption>();
            string? authority = null;
            foreach (var (key, value) in headers ?? [])
            {
                if (key.Equals(":authority", StringComparison.OrdinalIgnoreCase) || key.Equals("host", StringComparison.OrdinalIgnoreCase))
                {
                    authority = value;
                }
                if (key.StartsWith(':') || key.Equals("host", StringComparison.OrdinalIgnoreCase))
                {
                    continue;
                }
                options.Add(new HeaderValueOption(key, value, append));
            }
            options.Sort((a, b) => string.CompareOrdinal(a.Key, b.Key));
            return (options, authority);
        }

        private static List<string> DropInternal(IReadOnlyList<string>? keys) =>
            (keys ?? []).Where(k => !k.StartsWith(':') && !k.Equals("host", StringComparison.OrdinalIgnoreCase)).ToList();

        // route.go TranslateRouteMatch.
        private static RouteMatch TranslateRouteMatch(HttpMatch? match)
        {
            if (match is null)
            {
                return CatchAll();
            }
            var headers = new List<HeaderMatcher>();
            foreach (var (name, value) in match.Headers)
            {
                headers.Add(HeaderMatch(name, value, invert: false));
            }
            foreach (var (name, value) in match.WithoutHeaders)
            {
                var matcher = HeaderMatch(name, value, invert: true);
                headers.Add(matcher.PresentMatch is null ? matcher with { TreatMissingHeaderAsEmpty = true } : matcher);
            }
            headers.Sort((a, b) => string.CompareOrdinal(a.Name, b.Name));
            string? prefix = "/";
            string? path = null;
            string? regex = null;
            if (match.Uri is { } uri)
            {
                prefix = null;
                switch (uri.Kind)
                {
                    case StringMatchKind.Exact: path = uri.Value; break;
                    case StringMatchKind.Prefix: prefix = uri.Value; break;
                    default: regex = uri.Value; break;
                }
            }
            if (match.Method is { } method)
            {
                headers.Add(HeaderMatch(":method", method, invert: false));
            }
            if (match.Authority is { } authority)
            {
                headers.Add(HeaderMatch(":authority", authority, invert: false));
            }
            if (match.Scheme is { } scheme)
            {
                headers.Add(HeaderMatch(":scheme", scheme, invert: false));
            }
            var query = match.QueryParams
                .Select(q => IsPresentMatch(q.Value)
                    ? new QueryParameterMatcher(q.Key, null, true)
                    : new QueryParameterMatcher(q.Key, ToStringMatcher(q.Value), null))
                .ToList();
            return new RouteMatch(prefix, path, regex, !match.IgnoreUriCase, headers, query);
        }

        // route.go canBeConvertedToPresentMatch: regex "*" is Istio's "present" (istio/istio#20629).
        private static bool IsPresentMatch(StringMatch match) => match is { Kind: StringMatchKind.Regex, Value: "*" };

        private static HeaderMatcher HeaderMatch(string name, StringMatch value, bool invert) =>
            IsPresentMatch(value)
                ? new HeaderMatcher(name, null, true, invert, false)
                : new HeaderMatcher(name, ToStringMatcher(value), null, invert, false);

        private static StringMatcher ToStringMatcher(StringMatch match) => match.Kind switch
        {
            StringMatchKind.Exact => new StringMatcher(match.Value, null, null),
            StringMatchKind.Prefix => new StringMatcher(null, match.Value, null),
            _ => new StringMatcher(null, null, match.Value),
        };

        // route.go TranslateFault: percentage.value × 10 000 per MILLION; a delay without percentage gets its deprecated
        // integer percent per HUNDRED (0 when that is absent too); an abort without percentage has none (0%).
        private static HttpFault? TranslateFault(IstioHttpFault? fault)
        {
            if (fault is null || (fault.Delay is null && fault.Abort is null))
            {
                return null;
            }
            FaultDelay? delay = fault.Delay is { } d
                ? new FaultDelay(d.FixedDelay, d.Percentage is { } given && !d.IntegerPercent ? Fraction(given) : new FractionalPercent((uint)(d.Percentage ?? 0), "HUNDRED"))
                : null;
            FaultAbort? abort = fault.Abort is { } a
                ? new FaultAbort(a.HttpStatus, Fraction(a.Percentage))
                : null;
            return new HttpFault(delay, abort);
        }

        // translatePercentToFractionalPercent: uint32(p.Value * 10000), truncated.
        private static FractionalPercent Fraction(double? percent) =>
            new((uint)((percent ?? 0) * 10_000), "MILLION");

        // ---- clusters: cluster.go buildOutboundClusters, cluster_builder.go, cluster_traffic_policy.go ----

        private void AddClusters(Service service, ServicePort port)
        {
            if (service.Host.Contains('*'))
            {
                // A wildcard ServiceEntry host has no cluster of its own in this model (Istio: ORIGINAL_DST/DFP).
                return;
            }
            var rule = FindDestinationRule(service);
            AddCluster(service, port, null, rule);
            foreach (var subset in rule?.Subsets ?? [])
            {
                AddCluster(service, port, subset, rule);
            }
        }

        private void AddCluster(Service service, ServicePort port, Subset? subset, IstioDestinationRule? rule)
        {
            var name = ClusterName(port.Number, subset?.Name, service.Host);
            var policy = TrafficPolicies.Effective(rule?.TrafficPolicy, subset?.TrafficPolicy, port.Number);
            var tls = policy?.Tls;
            var pool = policy?.ConnectionPool;
            var outlier = policy?.OutlierDetection;

            var endpoints = Endpoints(service, port, subset);
            UpstreamTlsContext? transportSocket = null;
            if (tls is { CredentialName: not null, Mode: "SIMPLE" or "MUTUAL" } && !isGateway)
            {
                // cluster_tls.go: a credentialName is a Secret only gateways may read; a sidecar gets no TLS context at all.
                tls = null;
            }
            if (tls is null && service.IsEgressGatewayService)
            {
                // Auto mTLS: the egress gateway has an Istio proxy, so a sidecar speaks ISTIO_MUTUAL to it unless a
                // DestinationRule says otherwise; the SNI is then the cluster's own name.
                transportSocket = new UpstreamTlsContext(SniOfCluster(name), [], null, IstioMutual: true, false);
            }
            else if (tls is { Mode: "ISTIO_MUTUAL" })
            {
                transportSocket = new UpstreamTlsContext(tls.Sni ?? SniOfCluster(name), tls.SubjectAltNames, null, IstioMutual: true, false);
            }
            else if (tls is { Mode: "SIMPLE" or "MUTUAL" })
            {
                var sans = tls.SubjectAltNames.Count > 0 ? tls.SubjectAltNames : service.SubjectAltNames;
                // cluster_tls.go: a credentialName's CA comes over SDS (kubernetes://<name>-cacert); the local stand-in
                // for that Secret is EgressGateway:Credentials. Without one, istiod sends no secret.
                var trustedCa = tls.CredentialName is { } credential ? environment.CaForCredential(credential) : tls.CaCertificates ?? "system";
                transportSocket = new UpstreamTlsContext(tls.Sni, sans, tls.InsecureSkipVerify ? null : trustedCa,
                    IstioMutual: false, tls.InsecureSkipVerify)
                {
                    ValidationSecret = tls.CredentialName is { } secret ? MeshEnvironment.CaCredentialResource(secret) : null,
                    // cluster_tls.go decides before it falls back to the ServiceEntry's subjectAltNames: the rule's own fields count.
                    AutoSanValidation = string.IsNullOrEmpty(tls.Sni) && tls.SubjectAltNames.Count == 0 && !tls.InsecureSkipVerify,
                };
            }
            var type = service.IsEgressGatewayService ? "EDS" : service.Resolution switch
            {
                "DNS" => "STRICT_DNS",
                "DNS_ROUND_ROBIN" => "LOGICAL_DNS",
                "STATIC" => "STATIC",
                _ => "ORIGINAL_DST",
            };
            _clusters[name] = new Cluster(
                name,
                type,
                pool?.ConnectTimeout ?? DefaultConnectTimeout,
                endpoints,
                transportSocket,
                TranslateOutlierDetection(outlier),
                new CircuitBreakers(
                    pool?.MaxConnections is > 0 and var c ? c : uint.MaxValue,
                    pool?.Http1MaxPendingRequests is > 0 and var p ? p : uint.MaxValue,
                    pool?.Http2MaxRequests is > 0 and var r ? r : uint.MaxValue,
                    pool?.MaxRetries is > 0 and var m ? m : uint.MaxValue)
                {
                    TrackRemaining = Version.CircuitBreakersTrackRemaining,
                },
                new ClusterMetadata(service.Host, port.Number, subset?.Name, rule is null ? null : ConfigSource(rule)))
            {
                IdleTimeout = pool?.IdleTimeout,
                MaxConnectionDuration = pool?.MaxConnectionDuration,
                MinHealthPercent = outlier is null ? null : outlier.MinHealthPercent ?? 0,
                SplitExternalLocalOriginErrors = outlier?.SplitExternalLocalOriginErrors ?? false,
                ConsecutiveLocalOriginFailure = outlier?.ConsecutiveLocalOriginFailures,
                Http2 = port.Protocol is "HTTP2" or "GRPC",
                UseDownstreamProtocol = pool?.UseClientProtocol ?? false,
                MaxRequestsPerConnection = pool?.MaxRequestsPerConnection is > 0 and var perConnection ? perConnection : null,
                LbPolicy = TranslateLbPolicy(type, policy?.LoadBalancer),
            };
        }

        // cluster_traffic_policy.go applyLoadBalancer: an ORIGINAL_DST cluster is CLUSTER_PROVIDED whatever the rule says;
        // LEAST_CONN and LEAST_REQUEST are LEAST_REQUEST, RANDOM and ROUND_ROBIN themselves, anything else (no rule,
        // UNSPECIFIED) defaultLBAlgorithm(), LEAST_REQUEST.
        private static string TranslateLbPolicy(string clusterType, string? simple) => clusterType == "ORIGINAL_DST" ? "CLUSTER_PROVIDED" : simple switch
        {
            "ROUND_ROBIN" => "ROUND_ROBIN",
            "RANDOM" => "RANDOM",
            _ => "LEAST_REQUEST",
        };

        // Istio's cluster-name SNI for ISTIO_MUTUAL without an explicit sni: outbound_.443_.v1_.host.
        private static string SniOfCluster(string clusterName) =>
            clusterName.Split('|') is [var direction, var port, var subset, var host] ? $"{direction}_.{port}_.{subset}_.{host}" : clusterName;

        // Endpoints: the ServiceEntry's, filtered by the subset's labels; without any, the host itself (DNS).
        private static List<LbEndpoint> Endpoints(Service service, ServicePort port, Subset? subset)
        {
            if (service.Endpoints.Count == 0)
            {
                return [new LbEndpoint(service.Host, port.TargetPort ?? port.Number, new Dictionary<string, string>())];
            }
            return service.Endpoints
                .Where(e => subset is null || subset.Labels.All(l => e.Labels.TryGetValue(l.Key, out var v) && v == l.Value))
                .Select(e => new LbEndpoint(e.Address, port.Name is { } portName && e.Ports.TryGetValue(portName, out var target) ? target : port.TargetPort ?? port.Number, e.Labels))
                .ToList();
        }

        // cluster_traffic_policy.go applyOutlierDetection; unset fields keep Envoy's defaults (consecutive_5xx 5
        // enforced at 100%, consecutive_gateway_failure 5 enforced at 0%, interval 10 s, base ejection 30 s, max 10%).
        private static OutlierDetection? TranslateOutlierDetection(IstioOutlierDetection? outlier)
        {
            if (outlier is null)
            {
                return null;
            }
            return new OutlierDetection(
                outlier.Consecutive5xxErrors ?? 5,
                outlier.ConsecutiveGatewayErrors ?? 5,
                outlier.Interval ?? TimeSpan.FromSeconds(10),
                outlier.BaseEjectionTime ?? TimeSpan.FromSeconds(30),
                outlier.MaxEjectionPercent is > 0 and var max ? max : 10,
                outlier.Consecutive5xxErrors is null ? 100 : outlier.Consecutive5xxErrors > 0 ? 100 : 0,
                outlier.ConsecutiveGatewayErrors is > 0 ? 100 : 0);
        }

        // ---- DestinationRules: push_context.go setDestinationRules / destinationRule, destination_rule.go
        // mergeDestinationRule, sidecar.go SidecarScope.DestinationRule ----

        private RuleIndexes? _ruleIndexes;

        // push_context.go destinationRule: the proxy's namespace first (the root namespace's private rules for a proxy
        // there), then the rules the service's namespace exports to the proxy, then those the root namespace exports;
        // in each, the most specific host (exact, then the longest wildcard). Of the host's consolidated entries the
        // proxy uses the last one (SidecarScope.DestinationRule: the last without a workloadSelector — the loader
        // refuses workloadSelector).
        private IstioDestinationRule? FindDestinationRule(Service service)
        {
            var indexes = _ruleIndexes ??= RuleIndexes.Build(config.OfKind<IstioDestinationRule>(), NamespaceOf, Version);
            var found = proxyNamespace != RootNamespace
                ? MostSpecific(indexes.NamespaceLocal.GetValueOrDefault(proxyNamespace), service.Host)
                : MostSpecific(indexes.RootNamespaceLocal, service.Host);
            found ??= ExportedFrom(service.Namespace) ?? ExportedFrom(RootNamespace);
            return found is { Count: > 0 } ? found[^1].Rule : null;

            // getExportedDestinationRuleFromNamespace: only the entries exported to the proxy's namespace.
            List<ConsolidatedRule>? ExportedFrom(string owner)
            {
                var visible = MostSpecific(indexes.Exported.GetValueOrDefault(owner), service.Host)?
                    .Where(e => e.ExportTo.Count == 0 || e.ExportTo.Contains("*") || e.ExportTo.Contains(proxyNamespace))
                    .ToList();
                return visible is { Count: > 0 } ? visible : null;
            }
        }

        // config.go MostSpecificHostMatch: the exact host, else the longest wildcard whose suffix the host ends with.
        private static List<ConsolidatedRule>? MostSpecific(Dictionary<string, List<ConsolidatedRule>>? index, string host)
        {
            if (index is null)
            {
                return null;
            }
            if (index.TryGetValue(host, out var exact))
            {
                return exact;
            }
            return index
                .Where(e => e.Key.StartsWith('*') && host.EndsWith(e.Key[1..], StringComparison.OrdinalIgnoreCase))
                .OrderByDescending(e => e.Key.Length)
                .Select(e => e.Value)
                .FirstOrDefault();
        }
    }
}
