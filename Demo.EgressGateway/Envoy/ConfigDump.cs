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

    private static void WriteRouteConfiguration(Utf8JsonWriter json, RouteConfiguration config)
    {
        json.WriteStartObject();
        json.WriteString("@type", "type.googleapis.com/envoy.config.route.v3.RouteConfiguration");
        json.WriteString("name", config.Name);
        json.WriteStartArray("virtual_hosts");
        foreach (var virtualHost in config.VirtualHosts)
        {
            json.WriteStartObject();
            json.WriteString("name", virtualHost.Name);
            WriteStrings(json, "domains", virtualHost.Domains);
            json.WriteBoolean("include_request_attempt_count", true);
            json.WriteStartArray("routes");
            foreach (var route in virtualHost.Routes)
            {
                WriteRoute(json, route);
            }
            json.WriteEndArray();
            json.WriteEndObject();
        }
        json.WriteEndArray();
        json.WriteBoolean("validate_clusters", false);
        json.WriteNumber("max_direct_response_body_size_bytes", 1048576);
        json.WriteBoolean("ignore_port_in_host_matching", true);
        json.WriteEndObject();
    }

    private static void WriteRoute(Utf8JsonWriter json, Route route)
    {
        json.WriteStartObject();
        if (route.Name is { } name)
        {
            json.WriteString("name", name);
        }
        WriteMatch(json, route.Match);
        if (route.DirectResponse is { } direct)
        {
            json.WriteStartObject("direct_response");
            json.WriteNumber("status", direct.Status);
            if (direct.Body is { } body)
            {
                json.WriteStartObject("body");
                json.WriteString("inline_string", body);
                json.WriteEndObject();
            }
            json.WriteEndObject();
        }
        if (route.Action is { } action)
        {
            WriteAction(json, action);
        }
        if (route.Metadata is { } metadata)
        {
            json.WriteStartObject("metadata");
            json.WriteStartObject("filter_metadata");
            json.WriteStartObject("istio");
            json.WriteString("config", metadata);
            json.WriteEndObject();
            json.WriteEndObject();
            json.WriteEndObject();
        }
        if (route.Decorator.Length > 0)
        {
            json.WriteStartObject("decorator");
            json.WriteString("operation", route.Decorator);
            json.WriteEndObject();
        }
        WriteHeaders(json, route.RequestHeaders, "request");
        WriteHeaders(json, route.ResponseHeaders, "response");
        if (route.Fault is { } fault)
        {
            json.WriteStartObject("typed_per_filter_config");
            json.WriteStartObject("envoy.filters.http.fault");
            json.WriteString("@type", "type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault");
            if (fault.Delay is { } delay)
            {
                json.WriteStartObject("delay");
                json.WriteString("fixed_delay", Duration(delay.FixedDelay));
                WritePercent(json, delay.Percentage);
                json.WriteEndObject();
            }
            if (fault.Abort is { } abort)
            {
                json.WriteStartObject("abort");
                json.WriteNumber("http_status", abort.HttpStatus);
                WritePercent(json, abort.Percentage);
                json.WriteEndObject();
            }
            json.WriteEndObject();
            json.WriteEndObject();
        }
        json.WriteEndObject();
    }

    private static void WritePercent(Utf8JsonWriter json, FractionalPercent percent)
    {
        json.WriteStartObject("percentage");
        json.WriteNumber("numerator", percent.Numerator);
        json.WriteString("denominator", percent.Denominator);
        json.WriteEndObject();
    }

    private static void WriteMatch(Utf8JsonWriter json, RouteMatch match)
    {
        json.WriteStartObject("match");
        WriteMatcherFields(json, "path", match.Path, match.Prefix, match.SafeRegex);
        json.WriteBoolean("case_sensitive", match.CaseSensitive);
        WriteMatchers(json, "headers", match.Headers, static (json, header) =>
        {
            WriteMatcherEntry(json, header.Name, header.PresentMatch, header.StringMatch);
            if (header.InvertMatch)
            {
                json.WriteBoolean("invert_match", true);
            }
            if (header.TreatMissingHeaderAsEmpty)
            {
                json.WriteBoolean("treat_missing_header_as_empty", true);
            }
        });
        WriteMatchers(json, "query_parameters", match.QueryParameters,
            static (json, query) => WriteMatcherEntry(json, query.Name, query.PresentMatch, query.StringMatch));
        json.WriteEndObject();
    }

    private static void WriteMatchers<T>(Utf8JsonWriter json, string name, IReadOnlyList<T> matchers, Action<Utf8JsonWriter, T> write)
    {
        if (matchers.Count == 0)
        {
            return;
        }
        json.WriteStartArray(name);
        foreach (var matcher in matchers)
        {
            json.WriteStartObject();
            write(json, matcher);
            json.WriteEndObject();
        }
        json.WriteEndArray();
    }

    // A header or query-parameter matcher: its name, then present_match or string_match.
    private static void WriteMatcherEntry(Utf8JsonWriter json, string name, bool? presentMatch, StringMatcher? stringMatch)
    {
        json.WriteString("name", name);
        if (presentMatch is { } present)
        {
            json.WriteBoolean("present_match", present);
        }
        if (stringMatch is not null)
        {
            WriteStringMatch(json, stringMatch);
        }
    }

    private static void WriteStringMatch(Utf8JsonWriter json, StringMatcher matcher)
    {
        json.WriteStartObject("string_match");
        WriteMatcherFields(json, "exact", matcher.Exact, matcher.Prefix, matcher.SafeRegex);
        json.WriteEndObject();
    }

    // The exact (a route's "path", a string matcher's "exact"), prefix and safe_regex fields a matcher has set.
    private static void WriteMatcherFields(Utf8JsonWriter json, string exactName, string? exact, string? prefix, string? regex)
    {
        if (exact is not null)
        {
            json.WriteString(exactName, exact);
        }
        if (prefix is not null)
        {
            json.WriteString("prefix", prefix);
        }
        if (regex is not null)
        {
            json.WriteStartObject("safe_regex");
            json.WriteString("regex", regex);
            json.WriteEndObject();
        }
    }

    private static void WriteAction(Utf8JsonWriter json, RouteAction action)
    {
        json.WriteStartObject("route");
        if (action.Cluster is { } cluster)
        {
            json.WriteString("cluster", cluster);
        }
        if (action.WeightedClusters is { } weighted)
        {
            json.WriteStartObject("weighted_clusters");
            json.WriteStartArray("clusters");
            foreach (var weight in weighted.Clusters)
            {
                json.WriteStartObject();
                json.WriteString("name", weight.Name);
                json.WriteNumber("weight", weight.Weight);
                if (weight.HostRewriteLiteral is { } host)
                {
                    json.WriteString("host_rewrite_literal", host);
                }
                WriteHeaders(json, weight.RequestHeaders, "request");
                WriteHeaders(json, weight.ResponseHeaders, "response");
                json.WriteEndObject();
            }
            json.WriteEndArray();
            json.WriteEndObject();
        }
        if (action.HostRewriteLiteral is { } rewrite)
        {
            json.WriteString("host_rewrite_literal", rewrite);
        }
        if (action.PrefixRewrite is { } prefix)
        {
            json.WriteString("prefix_rewrite", prefix);
        }
        json.WriteString("timeout", Duration(action.Timeout));
        json.WriteString("max_grpc_timeout", Duration(action.Timeout));
        if (action.RetryPolicy is { } retry)
        {
            json.WriteStartObject("retry_policy");
            json.WriteString("retry_on", retry.RetryOn);
            json.WriteNumber("num_retries", retry.NumRetries);
            if (retry.PerTryTimeout is { } perTry)
            {
                json.WriteString("per_try_timeout", Duration(perTry));
            }
            if (retry.RetryHostPredicates.Count > 0)
            {
                WriteObjectList(json, "retry_host_predicate", "name", retry.RetryHostPredicates);
            }
            json.WriteNumber("host_selection_retry_max_attempts", retry.HostSelectionRetryMaxAttempts);
            if (retry.RetriableStatusCodes.Count > 0)
            {
                json.WriteStartArray("retriable_status_codes");
                foreach (var code in retry.RetriableStatusCodes)
                {
                    json.WriteNumberValue(code);
                }
                json.WriteEndArray();
            }
            if (retry.BaseInterval is { } baseInterval)
            {
                json.WriteStartObject("retry_back_off");
                json.WriteString("base_interval", Duration(baseInterval));
                json.WriteEndObject();
            }
            json.WriteEndObject();
        }
        json.WriteEndObject();
    }

    private static void WriteHeaders(Utf8JsonWriter json, HeaderOperations operations, string direction)
    {
        if (operations.ToAdd.Count > 0)
        {
            json.WriteStartArray($"{direction}_headers_to_add");
            foreach (var option in operations.ToAdd)
            {
                json.WriteStartObject();
                json.WriteStartObject("header");
                json.WriteString("key", option.Key);
                json.WriteString("value", option.Value);
                json.WriteEndObject();
                json.WriteString("append_action", option.Append ? "APPEND_IF_EXISTS_OR_ADD" : "OVERWRITE_IF_EXISTS_OR_ADD");
                json.WriteEndObject();
            }
            json.WriteEndArray();
        }
        if (operations.ToRemove.Count > 0)
        {
            WriteStrings(json, $"{direction}_headers_to_remove", operations.ToRemove);
        }
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
