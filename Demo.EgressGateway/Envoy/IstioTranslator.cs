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
public static partial class IstioTranslator
{
    public const string BlackHoleCluster = "BlackHoleCluster";
    public const string BlockAllRoute = "block_all";

    /// <summary>util.go: the cluster that forwards to the original destination the caller dialled (ORIGINAL_DST).</summary>
    public const string PassthroughCluster = "PassthroughCluster";

    /// <summary>util.go Passthrough: the ALLOW_ANY catch-all virtual host and route.</summary>
    public const string AllowAnyRoute = "allow_any";
    public const string DefaultRouteName = "default";
    public const string RootNamespace = "istio-system";

    /// <summary>Envoy's default retry back-off base interval (25 ms).</summary>
    public static readonly TimeSpan DefaultRetryBaseInterval = TimeSpan.FromMilliseconds(25);

    /// <summary>Istio's default connect timeout (meshConfig.connectTimeout: 10 s).</summary>
    public static readonly TimeSpan DefaultConnectTimeout = TimeSpan.FromSeconds(10);

    private const string DefaultRetryOn = "connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes";

    /// <summary>
    /// The configuration istiod would push to the two proxies for <paramref name="config"/>. Each proxy's is built on
    /// its own, from the same immutable resources, as istiod generates each connected proxy's configuration
    /// independently (pilot/pkg/xds: a push per connection): a large configuration builds both at once on two cores.
    /// </summary>
    public static MeshXds Translate(IstioConfigSet config, MeshEnvironment environment)
    {
        ProxyConfig Sidecar() => new ProxyTranslation(config, environment, environment.WorkloadNamespace, isGateway: false).Build();
        ProxyConfig Gateway() => new ProxyTranslation(config, environment, environment.GatewayNamespace, isGateway: true).Build();
        if (!config.IsLarge)
        {
            var sidecar = Sidecar();
            return new MeshXds(sidecar, Gateway());
        }
        var sidecarBuild = Task.Run(Sidecar);
        ProxyConfig? gateway = null;
        System.Runtime.ExceptionServices.ExceptionDispatchInfo? gatewayFailure = null;
        try
        {
            gateway = Gateway();
        }
        catch (Exception ex)
        {
            gatewayFailure = System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(ex);
        }
        // The sidecar's is awaited either way, and its failure thrown first, as when it was built first.
        var built = sidecarBuild.GetAwaiter().GetResult();
        gatewayFailure?.Throw();
        return new MeshXds(built, gateway!);
    }

    /// <summary>Istio's host matching between a (possibly wildcard) pattern and a concrete name.</summary>
    public static bool HostMatches(string pattern, string host) => HostName.Matches(pattern, host);

    private sealed record Service(
        string Host,
        string Namespace,
        IReadOnlyList<ServicePort> Ports,
        string Resolution,
        IReadOnlyList<WorkloadEntry> Endpoints,
        IReadOnlyList<string> SubjectAltNames,
        string ConfigSource,
        bool IsEgressGatewayService)
    {
        /// <summary>The ServiceEntry's addresses (virtual IPs or CIDR ranges); empty: none.</summary>
        public IReadOnlyList<string> Addresses { get; init; } = [];
    }

    private sealed partial class ProxyTranslation(IstioConfigSet config, MeshEnvironment environment, string proxyNamespace, bool isGateway)
    {
        private readonly Dictionary<string, Service> _services = new(StringComparer.OrdinalIgnoreCase);
        private readonly Dictionary<string, Cluster> _clusters = new(StringComparer.Ordinal);
        private readonly List<ClusterLoadAssignment> _endpointConfigs = [];
        private readonly Dictionary<string, Secret> _secrets = new(StringComparer.Ordinal);

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
                AddSidecarTlsChains(listeners);
                AddSidecarTcpChains(listeners);
                FinishSidecarListeners(listeners);
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
                _clusters.Values.OrderBy(c => c.Name, StringComparer.Ordinal).ToList(),
                _endpointConfigs.OrderBy(e => e.ClusterName, StringComparer.Ordinal).ToList(),
                _secrets.Values.OrderBy(s => s.Name, StringComparer.Ordinal).ToList())
            {
                ExplicitInternalAddressConfig = !Version.GatewayTreatsPrivateAddressesAsInternal,
                NameTable = isGateway ? null : BuildNameTable(),
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
                    entry.Endpoints, entry.SubjectAltNames, ConfigSource(entry), IsEgressGatewayService: false) { Addresses = entry.Addresses }, entry.ExportTo)))
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
                candidates = candidates.Where(s => Scope.Imports(s.Service.Namespace, s.Service.Host)).ToList();
                // A sidecar goes through its Sidecar resource (SidecarScope: what its egress hosts import): one namespace per hostname — the
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

        // listener.go / gateway.go: the HTTP connection manager of an outbound or gateway filter chain, by RDS name.
        private static NetworkFilter HttpConnectionManagerFor(string routeConfigName, string statPrefix, bool spawnUpstreamSpan) =>
            new(NetworkFilter.HttpConnectionManagerName,
                new HttpConnectionManager(statPrefix, new Rds(routeConfigName), HttpConnectionManager.DefaultHttpFilters)
                {
                    Tracing = spawnUpstreamSpan ? new HttpTracing(true) : null,
                });

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

        // A sidecar sees a VirtualService its Sidecar's egress hosts import (any of its hosts, in its namespace).
        private IEnumerable<IstioVirtualService> VisibleVirtualServices() =>
            config.OfKind<IstioVirtualService>().Where(vs => ExportTo.Reaches(vs.ExportTo, NamespaceOf(vs), proxyNamespace)
                && (isGateway || vs.Hosts.Any(host => Scope.Imports(NamespaceOf(vs), host))));

    }
}
