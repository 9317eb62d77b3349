using Demo.EgressGateway.Istio;

namespace Demo.EgressGateway.Envoy;

/// <summary>
/// A check on what istiod would push rather than on the Istio resources: a route that names a cluster its proxy does
/// not have (a host or subset that is not registered, not exported to the proxy's namespace, or lacks that port) is
/// answered 503 <c>NC</c> (<c>cluster_not_found</c>) by Envoy's router (<c>source/common/router/router.cc</c>,
/// <c>decodeHeaders</c>). istiod pushes such routes as they are (<c>route/route.go</c> builds the cluster name without
/// looking it up), so this is a warning, never an error.
/// </summary>
public static class RouteClusterCheck
{
    /// <summary>
    /// One warning per VirtualService and missing cluster per proxy, on the VirtualService's file, field <c>spec.http</c>.
    /// </summary>
    /// <param name="config">The resources <paramref name="xds"/> was translated from (for the VirtualServices' files).</param>
    /// <param name="xds">The translation of <paramref name="config"/>.</param>
    public static IEnumerable<ConfigDiagnostic> Check(IstioConfigSet config, MeshXds xds)
    {
        var virtualServices = new Dictionary<string, VirtualService>(StringComparer.Ordinal);
        foreach (var virtualService in config.OfKind<VirtualService>())
        {
            virtualServices.TryAdd(virtualService.Id.Name, virtualService);
        }
        var reported = new HashSet<(string, string)>();
        foreach (var (proxy, role) in new[] { (xds.Sidecar, "the workload's sidecar"), (xds.Gateway, "the egress gateway") })
        {
            var clusters = proxy.Clusters.Select(c => c.Name).ToHashSet(StringComparer.Ordinal);
            foreach (var route in proxy.RouteConfigs.SelectMany(r => r.VirtualHosts).SelectMany(v => v.Routes))
            {
                var names = route.Action?.Cluster is { } single ? [single]
                    : route.Action?.WeightedClusters?.Clusters.Select(c => c.Name) ?? [];
                var vsName = route.ConfigSource?.Split('/')[^1];
                var vs = vsName is null ? null : virtualServices.GetValueOrDefault(vsName);
                foreach (var name in names.Where(n => !clusters.Contains(n)))
                {
                    if (vs is null || !reported.Add((vs.Id.Name, name + role)))
                    {
                        continue;
                    }
                    var host = name.Split('|')[^1];
                    yield return new(DiagnosticSeverity.Warning, vs.Id.File, vs.Id.ToString(), "spec.http",
                        $"routes to cluster '{name}', which {role} (namespace {proxy.Namespace}) does not have — '{host}' is not registered there, not exported to that namespace (exportTo), or lacks that subset/port: Envoy answers 503 NC");
                }
            }
        }
    }
}
