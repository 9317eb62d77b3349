using System.Globalization;
using System.Text.Json;

namespace Demo.EgressGateway.Envoy;

/// <summary>
/// Writes a <see cref="ProxyConfig"/> in the shape of Envoy's admin <c>/config_dump</c> (envoy.admin.v3.ConfigDump:
/// ListenersConfigDump, RoutesConfigDump, ClustersConfigDump, proto3 JSON with Envoy's field names), so that it can
/// be read beside <c>istioctl proxy-config listeners|routes|clusters &lt;pod&gt; -o json</c> from a cluster.
/// Durations are protobuf JSON strings (<c>"15s"</c>, <c>"0.025s"</c>).
/// </summary>
public static partial class ConfigDump
{
    public const string ListenersResource = "dynamic_listeners";
    public const string RoutesResource = "dynamic_route_configs";
    public const string ClustersResource = "dynamic_active_clusters";

    /// <summary>
    /// The whole dump (<paramref name="resource"/> null), or one list of it, like Envoy's <c>?resource=</c>:
    /// <c>dynamic_listeners</c>, <c>dynamic_route_configs</c>, <c>dynamic_active_clusters</c>.
    /// </summary>
    /// <exception cref="ArgumentException">An unknown <paramref name="resource"/>.</exception>
    public static void Write(Utf8JsonWriter json, ProxyConfig proxy, string? resource = null)
    {
        switch (resource)
        {
            case null or "":
                json.WriteStartObject();
                json.WriteStartArray("configs");
                WriteListenersDump(json, proxy);
                WriteRoutesDump(json, proxy);
                WriteClustersDump(json, proxy);
                json.WriteEndArray();
                json.WriteEndObject();
                break;
            case ListenersResource:
                json.WriteStartArray();
                proxy.Listeners.ToList().ForEach(l => WriteListener(json, l));
                json.WriteEndArray();
                break;
            case RoutesResource:
                json.WriteStartArray();
                proxy.RouteConfigs.ToList().ForEach(r => WriteRouteConfiguration(json, r));
                json.WriteEndArray();
                break;
            case ClustersResource:
                json.WriteStartArray();
                proxy.Clusters.ToList().ForEach(c => WriteCluster(json, c));
                json.WriteEndArray();
                break;
            default:
                throw new ArgumentException($"unknown resource '{resource}'; use {ListenersResource}, {RoutesResource} or {ClustersResource}", nameof(resource));
        }
    }

    public static string ToJson(ProxyConfig proxy, string? resource = null)
    {
        using var stream = new MemoryStream();
        using (var json = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true }))
        {
            Write(json, proxy, resource);
        }
        return System.Text.Encoding.UTF8.GetString(stream.ToArray());
    }

    /// <summary>protobuf JSON for google.protobuf.Duration: seconds with up to 9 decimals and an <c>s</c>.</summary>
    public static string Duration(TimeSpan value) =>
        value.TotalSeconds.ToString("0.#########", CultureInfo.InvariantCulture) + "s";

    private static void WriteListenersDump(Utf8JsonWriter json, ProxyConfig proxy) =>
        WriteDump(json, "ListenersConfigDump", ListenersResource, proxy.Listeners, (item, listener) =>
        {
            item.WriteString("name", listener.Name);
            item.WriteStartObject("active_state");
            item.WritePropertyName("listener");
            WriteListener(item, listener);
            item.WriteEndObject();
        });

    private static void WriteRoutesDump(Utf8JsonWriter json, ProxyConfig proxy) =>
        WriteDump(json, "RoutesConfigDump", RoutesResource, proxy.RouteConfigs, (item, routes) =>
        {
            item.WritePropertyName("route_config");
            WriteRouteConfiguration(item, routes);
        });

    private static void WriteClustersDump(Utf8JsonWriter json, ProxyConfig proxy) =>
        WriteDump(json, "ClustersConfigDump", ClustersResource, proxy.Clusters, (item, cluster) =>
        {
            item.WritePropertyName("cluster");
            WriteCluster(item, cluster);
        });

    // One envoy.admin.v3.*ConfigDump: its @type and the list of wrapped resources.
    private static void WriteDump<T>(Utf8JsonWriter json, string dumpType, string listName, IEnumerable<T> items, Action<Utf8JsonWriter, T> writeItem)
    {
        json.WriteStartObject();
        json.WriteString("@type", $"type.googleapis.com/envoy.admin.v3.{dumpType}");
        json.WriteStartArray(listName);
        foreach (var item in items)
        {
            json.WriteStartObject();
            writeItem(json, item);
            json.WriteEndObject();
        }
        json.WriteEndArray();
        json.WriteEndObject();
    }

    private static void WriteListener(Utf8JsonWriter json, Listener listener)
    {
        json.WriteStartObject();
        json.WriteString("@type", "type.googleapis.com/envoy.config.listener.v3.Listener");
        json.WriteString("name", listener.Name);
        json.WriteStartObject("address");
        json.WriteStartObject("socket_address");
        json.WriteString("address", listener.Address.Address);
        json.WriteNumber("port_value", listener.Address.PortValue);
        json.WriteEndObject();
        json.WriteEndObject();
        json.WriteStartArray("filter_chains");
        foreach (var chain in listener.FilterChains)
        {
            json.WriteStartObject();
            json.WriteString("name", chain.Name);
            if (chain.FilterChainMatch is { } match)
            {
                json.WriteStartObject("filter_chain_match");
                if (match.ServerNames.Count > 0)
                {
                    WriteStrings(json, "server_names", match.ServerNames);
                }
                if (match.TransportProtocol is { } protocol)
                {
                    json.WriteString("transport_protocol", protocol);
                }
                json.WriteEndObject();
            }
            if (chain.ServerTlsMode is { } mode)
            {
                json.WriteStartObject("transport_socket");
                json.WriteString("name", "envoy.transport_sockets.tls");
                json.WriteStartObject("typed_config");
                json.WriteString("@type", "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext");
                json.WriteBoolean("require_client_certificate", mode is "ISTIO_MUTUAL" or "MUTUAL");
                if (chain.MatchSubjectAltNames.Count > 0)
                {
                    json.WriteStartObject("common_tls_context");
                    json.WriteStartObject("combined_validation_context");
                    json.WriteStartObject("default_validation_context");
                    WriteObjectList(json, "match_subject_alt_names", "exact", chain.MatchSubjectAltNames);
                    json.WriteEndObject();
                    json.WriteEndObject();
                    json.WriteEndObject();
                }
                json.WriteEndObject();
                json.WriteEndObject();
            }
            json.WriteStartArray("filters");
            json.WriteStartObject();
            json.WriteString("name", "envoy.filters.network.http_connection_manager");
            json.WriteStartObject("typed_config");
            json.WriteString("@type", "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager");
            json.WriteStartObject("rds");
            json.WriteString("route_config_name", chain.RouteConfigName);
            json.WriteEndObject();
            if (chain.SpawnUpstreamSpan)
            {
                json.WriteStartObject("tracing");
                json.WriteBoolean("spawn_upstream_span", true);
                json.WriteEndObject();
            }
            json.WriteStartArray("http_filters");
            foreach (var filter in new[] { "envoy.filters.http.fault", "envoy.filters.http.router" })
            {
                json.WriteStartObject();
                json.WriteString("name", filter);
                json.WriteEndObject();
            }
            json.WriteEndArray();
            json.WriteEndObject();
            json.WriteEndObject();
            json.WriteEndArray();
            json.WriteEndObject();
        }
        json.WriteEndArray();
        json.WriteEndObject();
    }

    // A list of one-field objects, [{"<field>": value}, …]: match_subject_alt_names' exact matchers, retry_host_predicate's names.
    private static void WriteObjectList(Utf8JsonWriter json, string name, string field, IEnumerable<string> values)
    {
        json.WriteStartArray(name);
        foreach (var value in values)
        {
            json.WriteStartObject();
            json.WriteString(field, value);
            json.WriteEndObject();
        }
        json.WriteEndArray();
    }
}
