using System.Text.Json;
using System.Text.Json.Serialization;

namespace Demo.EgressGateway.Envoy;

/// <summary>
/// A <see cref="ProxyConfig"/> in the shape of Envoy's admin <c>/config_dump</c> (envoy.admin.v3.ConfigDump:
/// ListenersConfigDump, RoutesConfigDump, ClustersConfigDump, SecretsConfigDump and, with <c>include_eds</c>,
/// EndpointsConfigDump): the Envoy records serialized by <see cref="ProtoJson"/>, so that it can be read beside
/// <c>istioctl proxy-config listeners|routes|clusters|secret &lt;pod&gt; -o json</c> from a cluster.
/// </summary>
public static class ConfigDump
{
    public const string ListenersResource = "dynamic_listeners";
    public const string RoutesResource = "dynamic_route_configs";
    public const string ClustersResource = "dynamic_active_clusters";
    public const string SecretsResource = "dynamic_active_secrets";
    public const string EndpointsResource = "dynamic_endpoint_configs";

    /// <summary>The <c>?resource=</c> values, as Envoy names the lists.</summary>
    public static readonly IReadOnlyList<string> Resources = [ListenersResource, RoutesResource, ClustersResource, SecretsResource, EndpointsResource];

    /// <summary>
    /// The whole dump (<paramref name="resource"/> null or empty; EDS endpoints only with <paramref name="includeEds"/>,
    /// as Envoy's <c>?include_eds</c>), or one list of it, like Envoy's <c>?resource=</c> (one of <see cref="Resources"/>),
    /// as indented JSON.
    /// </summary>
    /// <exception cref="ArgumentException">An unknown <paramref name="resource"/>.</exception>
    public static string ToJson(ProxyConfig proxy, string? resource = null, bool includeEds = false) => resource switch
    {
        null or "" => JsonSerializer.Serialize(new Dump(Configs(proxy, includeEds)), ProtoJson.Indented),
        ListenersResource => JsonSerializer.Serialize(proxy.Listeners, ProtoJson.Indented),
        RoutesResource => JsonSerializer.Serialize(proxy.RouteConfigs, ProtoJson.Indented),
        ClustersResource => JsonSerializer.Serialize(proxy.Clusters, ProtoJson.Indented),
        SecretsResource => JsonSerializer.Serialize(proxy.Secrets, ProtoJson.Indented),
        EndpointsResource => JsonSerializer.Serialize(proxy.EndpointConfigs, ProtoJson.Indented),
        _ => throw new ArgumentException($"unknown resource '{resource}'; use one of {string.Join(", ", Resources)}", nameof(resource)),
    };

    /// <summary>One cluster's definition as compact UTF-8 JSON, to tell a changed cluster from an unchanged one.</summary>
    /// <param name="cluster">The cluster.</param>
    /// <param name="writer">An unindented writer; flushed when done.</param>
    public static void WriteClusterJson(Cluster cluster, Utf8JsonWriter writer)
    {
        JsonSerializer.Serialize(writer, cluster, ProtoJson.Compact);
        writer.Flush();
    }

    private static List<object> Configs(ProxyConfig proxy, bool includeEds)
    {
        List<object> configs =
        [
            new ListenersConfigDump(proxy.Listeners.Select(l => new DynamicListener(l.Name, new ListenerState(l))).ToList()),
            new RoutesConfigDump(proxy.RouteConfigs.Select(r => new DynamicRouteConfig(r)).ToList()),
            new ClustersConfigDump(proxy.Clusters.Select(c => new DynamicCluster(c)).ToList()),
            new SecretsConfigDump(proxy.Secrets.Select(s => new DynamicSecret(s.Name, s)).ToList()),
        ];
        if (includeEds)
        {
            configs.Add(new EndpointsConfigDump(proxy.EndpointConfigs.Select(e => new DynamicEndpointConfig(e)).ToList()));
        }
        return configs;
    }

    // envoy.admin.v3.ConfigDump: each entry an Any, serialized by its runtime type.
    private sealed record Dump(IReadOnlyList<object> Configs);

    private sealed record ListenersConfigDump(IReadOnlyList<DynamicListener> DynamicListeners)
    {
        [JsonPropertyName("@type"), JsonPropertyOrder(-1)]
        public string TypeUrl => "type.googleapis.com/envoy.admin.v3.ListenersConfigDump";
    }

    private sealed record DynamicListener(string Name, ListenerState ActiveState);

    private sealed record ListenerState(Listener Listener);

    private sealed record RoutesConfigDump(IReadOnlyList<DynamicRouteConfig> DynamicRouteConfigs)
    {
        [JsonPropertyName("@type"), JsonPropertyOrder(-1)]
        public string TypeUrl => "type.googleapis.com/envoy.admin.v3.RoutesConfigDump";
    }

    private sealed record DynamicRouteConfig(RouteConfiguration RouteConfig);

    private sealed record ClustersConfigDump(IReadOnlyList<DynamicCluster> DynamicActiveClusters)
    {
        [JsonPropertyName("@type"), JsonPropertyOrder(-1)]
        public string TypeUrl => "type.googleapis.com/envoy.admin.v3.ClustersConfigDump";
    }

    private sealed record DynamicCluster(Cluster Cluster);

    private sealed record SecretsConfigDump(IReadOnlyList<DynamicSecret> DynamicActiveSecrets)
    {
        [JsonPropertyName("@type"), JsonPropertyOrder(-1)]
        public string TypeUrl => "type.googleapis.com/envoy.admin.v3.SecretsConfigDump";
    }

    private sealed record DynamicSecret(string Name, Secret Secret);

    private sealed record EndpointsConfigDump(IReadOnlyList<DynamicEndpointConfig> DynamicEndpointConfigs)
    {
        [JsonPropertyName("@type"), JsonPropertyOrder(-1)]
        public string TypeUrl => "type.googleapis.com/envoy.admin.v3.EndpointsConfigDump";
    }

    private sealed record DynamicEndpointConfig(ClusterLoadAssignment EndpointConfig);
}
