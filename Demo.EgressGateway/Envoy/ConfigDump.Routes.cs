using System.Text.Json;

namespace Demo.EgressGateway.Envoy;

// ConfigDump, continued: route configurations (envoy.config.route.v3) — virtual hosts, routes, matches, actions,
// redirects, direct responses, header operations and the fault filter's per-route config.
public static partial class ConfigDump
{
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
            else if (direct.InlineBytes is { } bytes)
            {
                json.WriteStartObject("body");
                json.WriteBase64String("inline_bytes", bytes);
                json.WriteEndObject();
            }
            json.WriteEndObject();
        }
        if (route.Redirect is { } redirect)
        {
            json.WriteStartObject("redirect");
            if (redirect.HostRedirect is { } host)
            {
                json.WriteString("host_redirect", host);
            }
            if (redirect.PrefixRewrite is { } prefix)
            {
                json.WriteString("prefix_rewrite", prefix);
            }
            else if (redirect.PathRedirect is { } path)
            {
                json.WriteString("path_redirect", path);
            }
            if (redirect.SchemeRedirect is { } scheme)
            {
                json.WriteString("scheme_redirect", scheme);
            }
            if (redirect.PortRedirect > 0)
            {
                json.WriteNumber("port_redirect", redirect.PortRedirect);
            }
            // proto3 JSON leaves the default (MOVED_PERMANENTLY) out.
            if (redirect.ResponseCode != 301)
            {
                json.WriteString("response_code", redirect.ResponseCode switch
                {
                    302 => "FOUND",
                    303 => "SEE_OTHER",
                    307 => "TEMPORARY_REDIRECT",
                    _ => "PERMANENT_REDIRECT",
                });
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
        if (route.Fault is not null || route.Cors is not null)
        {
            json.WriteStartObject("typed_per_filter_config");
        }
        if (route.Cors is { } cors)
        {
            json.WriteStartObject("envoy.filters.http.cors");
            json.WriteString("@type", "type.googleapis.com/envoy.extensions.filters.http.cors.v3.CorsPolicy");
            json.WriteStartArray("allow_origin_string_match");
            foreach (var origin in cors.AllowOriginStringMatch)
            {
                json.WriteStartObject();
                WriteMatcherFields(json, "exact", origin.Exact, origin.Prefix, origin.SafeRegex);
                json.WriteEndObject();
            }
            json.WriteEndArray();
            foreach (var (field, value) in new[] { ("allow_methods", cors.AllowMethods), ("allow_headers", cors.AllowHeaders), ("expose_headers", cors.ExposeHeaders), ("max_age", cors.MaxAge) })
            {
                if (value is not null)
                {
                    json.WriteString(field, value);
                }
            }
            if (cors.AllowCredentials is { } credentials)
            {
                json.WriteBoolean("allow_credentials", credentials);
            }
            if (cors.ForwardNotMatchingPreflights is { } forward)
            {
                json.WriteBoolean("forward_not_matching_preflights", forward);
            }
            json.WriteEndObject();
        }
        if (route.Fault is { } fault)
        {
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
        }
        if (route.Fault is not null || route.Cors is not null)
        {
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
        if (action.RequestMirrorPolicies.Count > 0)
        {
            json.WriteStartArray("request_mirror_policies");
            foreach (var mirror in action.RequestMirrorPolicies)
            {
                json.WriteStartObject();
                json.WriteString("cluster", mirror.Cluster);
                json.WriteStartObject("runtime_fraction");
                json.WritePropertyName("default_value");
                json.WriteStartObject();
                json.WriteNumber("numerator", mirror.RuntimeFraction.Numerator);
                json.WriteString("denominator", mirror.RuntimeFraction.Denominator);
                json.WriteEndObject();
                json.WriteEndObject();
                json.WriteBoolean("trace_sampled", false);
                json.WriteEndObject();
            }
            json.WriteEndArray();
        }
        if (action.HashPolicy.Count > 0)
        {
            json.WriteStartArray("hash_policy");
            foreach (var hash in action.HashPolicy)
            {
                json.WriteStartObject();
                if (hash.Header is { } header)
                {
                    json.WriteStartObject("header");
                    json.WriteString("header_name", header);
                    json.WriteEndObject();
                }
                else if (hash.QueryParameter is { } query)
                {
                    json.WriteStartObject("query_parameter");
                    json.WriteString("name", query);
                    json.WriteEndObject();
                }
                else
                {
                    json.WriteStartObject("connection_properties");
                    json.WriteBoolean("source_ip", true);
                    json.WriteEndObject();
                }
                json.WriteEndObject();
            }
            json.WriteEndArray();
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
}
