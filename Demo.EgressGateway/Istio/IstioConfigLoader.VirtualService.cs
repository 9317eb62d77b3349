using System.Text.RegularExpressions;

namespace Demo.EgressGateway.Istio;

// IstioConfigLoader, continued: VirtualService resources (HTTP routes, matches, faults, retries, destinations, headers).
public static partial class IstioConfigLoader
{
    private static VirtualService ParseVirtualService(ResourceId id, YamlFields spec)
    {
        var hosts = spec.StringList("hosts", required: true);
        var gateways = spec.StringList("gateways");
        var routes = spec.MapList("http").Select((r, i) => ParseHttpRoute(r, i)).ToList();
        var tcp = ParseTcpRoutes(spec);
        var tls = ParseTlsRoutes(spec, hosts);
        if (routes.Count == 0 && tls.Count == 0 && tcp.Count == 0)
        {
            // validation.go ValidateVirtualService.
            spec.Context.Error(spec.Path, "http, tcp or tls must be provided in virtual service", spec.Node);
        }
        var exportTo = spec.StringList("exportTo");
        return new VirtualService(id, hosts, gateways, routes) { ExportTo = exportTo, Tls = tls, Tcp = tcp };
    }

    private static HttpRoute ParseHttpRoute(YamlFields route, int index)
    {
        var name = route.String("name");
        var matches = route.MapList("match").Select(ParseMatch).ToList();
        var destinations = route.MapList("route").Select(ParseRouteDestination).ToList();
        string? rewriteAuthority = null;
        string? rewriteUri = null;
        var hasRewrite = false;
        if (route.Map("rewrite") is { } rewrite)
        {
            hasRewrite = true;
            rewriteAuthority = rewrite.String("authority");
            rewriteUri = rewrite.String("uri");
            rewrite.Refuse(RefusedFields.UriRegexRewrite);
            rewrite.RejectUnknown();
        }
        var timeout = route.Duration("timeout", TimeSpan.FromMilliseconds(1));
        HttpRetry? retries = null;
        if (route.Map("retries") is { } r)
        {
            var attempts = r.Int("attempts", 0, int.MaxValue) ?? 0;
            retries = new HttpRetry(
                attempts,
                r.Duration("perTryTimeout", TimeSpan.FromMilliseconds(1)),
                r.String("retryOn"),
                r.Duration("backoff", TimeSpan.FromMilliseconds(1)))
            {
                RetryIgnorePreviousHosts = r.Bool("retryIgnorePreviousHosts"),
            };
            // One locality here: retrying in other localities changes nothing.
            var remoteLocalities = r.Bool("retryRemoteLocalities");
            r.RejectUnknown();
            // pkg/config/validation/agent ValidateHTTPRetry.
            if (attempts == 0 && (retries.PerTryTimeout is not null || !string.IsNullOrEmpty(retries.RetryOn) || remoteLocalities is not null))
            {
                r.Context.Error(r.Join("attempts"), "http retry policy configured when attempts are set to 0 (disabled): Istio refuses it; drop the other fields or set attempts", r.Node);
            }
            if (retries.RetryOn is { Length: > 0 } retryOn)
            {
                // Split on ',' exactly as istiod does: a space is part of the condition, and only codes Go's
                // http.StatusText knows are codes.
                foreach (var condition in retryOn.Split(','))
                {
                    if (!RetryConditions.IsKnown(condition))
                    {
                        r.Context.Error(r.Join("retryOn"), $"\"{condition}\" is not a valid retryOn policy (Envoy conditions: {string.Join(", ", RetryConditions.Known)}; or an HTTP status code)", r.Node);
                    }
                    else if (condition == "envoy-ratelimited")
                    {
                        r.RefuseValue(RefusedFields.RetryOnRateLimited, condition);
                    }
                }
            }
        }
        HttpFault? fault = null;
        if (route.Map("fault") is { } f)
        {
            FaultDelay? delay = null;
            if (f.Map("delay") is { } d)
            {
                var fixedDelay = d.Duration("fixedDelay", TimeSpan.FromMilliseconds(1));
                var percentage = ParsePercentage(d, allowPercent: true, out var integerPercent);
                d.Refuse(RefusedFields.ExponentialDelay);
                d.RejectUnknown();
                if (fixedDelay is null)
                {
                    d.Context.Error(d.Join("fixedDelay"), "is required", d.Node);
                }
                else
                {
                    delay = new FaultDelay(fixedDelay.Value, percentage) { IntegerPercent = integerPercent };
                }
            }
            FaultAbort? abort = null;
            if (f.Map("abort") is { } a)
            {
                var status = a.Int("httpStatus", 200, 599);
                var percentage = ParsePercentage(a, allowPercent: false, out _);
                a.Refuse(RefusedFields.GrpcStatus);
                a.Refuse(RefusedFields.Http2Error);
                a.RejectUnknown();
                if (status is null)
                {
                    a.Context.Error(a.Join("httpStatus"), "is required (an HTTP status between 200 and 599)", a.Node);
                }
                else
                {
                    abort = new FaultAbort(status.Value, percentage);
                }
            }
            f.RejectUnknown();
            fault = new HttpFault(delay, abort);
        }
        var headers = route.Map("headers") is { } h ? ParseHeaders(h) : null;
        // virtualservice.go validateAuthorityRewrite: one route sets its Host in one place only.
        var authorities = new[] { rewriteAuthority }
            .Concat(headers?.Request?.Set.Where(kv => IsAuthorityHeader(kv.Key)).Select(kv => kv.Value) ?? [])
            .Concat(headers?.Request?.Add.Where(kv => IsAuthorityHeader(kv.Key)).Select(kv => kv.Value) ?? [])
            .Where(v => !string.IsNullOrEmpty(v))
            .ToList();
        if (authorities.Count > 1)
        {
            route.Context.Error(route.Join("headers.request"), $"authority header cannot be set multiple times: have \"{authorities[0]}\", attempting to set \"{authorities[1]}\" (rewrite.authority and a Host/:authority header are one setting; Istio refuses both)", route.Node);
        }
        var redirect = route.Map("redirect") is { } r2 ? ParseRedirect(r2, matches) : null;
        var directResponse = route.Map("directResponse") is { } dr ? ParseDirectResponse(dr) : null;
        // virtualservice.go validateHTTPRoute: a route forwards, redirects or answers directly — one of them.
        string? conflict = (redirect, directResponse) switch
        {
            ({ }, _) when destinations.Count > 0 => "HTTP route cannot contain both route and redirect",
            ({ }, _) when fault is not null => "HTTP route cannot contain both fault and redirect",
            ({ }, _) when hasRewrite => "HTTP route rule cannot contain both rewrite and redirect",
            ({ }, { }) => "HTTP route rule cannot contain both direct_response and redirect",
            (null, { }) when destinations.Count > 0 => "HTTP route cannot contain both route and direct_response",
            (null, { }) when fault is not null => "HTTP route cannot contain both fault and direct_response",
            (null, { }) when hasRewrite => "HTTP route rule cannot contain both rewrite and direct_response",
            (null, null) when destinations.Count == 0 => "HTTP route, redirect or direct_response is required",
            _ => null,
        };
        if (conflict is not null)
        {
            route.Context.Error(route.Path, conflict, route.Node);
        }
        route.Refuse(RefusedFields.Delegate);
        var mirrors = ParseMirrors(route);
        var cors = route.Map("corsPolicy") is { } c ? ParseCorsPolicy(c) : null;
        route.RejectUnknown();
        return new HttpRoute(index, name, matches, destinations, rewriteAuthority, rewriteUri, timeout, retries, fault, headers)
        {
            Redirect = redirect,
            DirectResponse = directResponse,
            CorsPolicy = cors,
            Mirrors = mirrors,
        };
    }

    private static bool IsAuthorityHeader(string name) =>
        name.Equals("host", StringComparison.OrdinalIgnoreCase) || name.Equals(":authority", StringComparison.OrdinalIgnoreCase);

    // Envoy's FractionalPercent as Istio writes it: percentage.value (0-100); the deprecated integer 'percent' too.
    // Istio (route.go TranslateFault): percentage.value wins; a delay without it uses the deprecated integer percent;
    // an abort without percentage has none, which Envoy reads as 0%.
    private static double? ParsePercentage(YamlFields fault, bool allowPercent, out bool integerPercent)
    {
        integerPercent = false;
        var percent = allowPercent ? fault.Int("percent", 0, 100) : null;
        if (!allowPercent)
        {
            fault.Refuse(RefusedFields.AbortPercent);
        }
        if (fault.Map("percentage") is { } percentage)
        {
            var value = percentage.Double("value", 0, 100);
            percentage.RejectUnknown();
            return value ?? 0;
        }
        integerPercent = percent is not null;
        return percent;
    }

    private static HttpMatch ParseMatch(YamlFields match)
    {
        var result = new HttpMatch(
            match.Map("uri") is { } uri ? ParseStringMatch(uri) : null,
            match.Map("scheme") is { } scheme ? ParseStringMatch(scheme) : null,
            match.Map("method") is { } method ? ParseStringMatch(method) : null,
            match.Map("authority") is { } authority ? ParseStringMatch(authority) : null,
            ParseStringMatchMap(match, "headers"),
            ParseStringMatchMap(match, "withoutHeaders"),
            ParseStringMatchMap(match, "queryParams"),
            match.Int("port", 1, 65535),
            match.StringList("gateways"),
            match.Bool("ignoreUriCase") ?? false)
        {
            Name = match.String("name"),
            SourceLabels = match.StringMap("sourceLabels").ToDictionary(kv => kv.Key, kv => kv.Value, StringComparer.Ordinal),
            SourceNamespace = match.String("sourceNamespace"),
        };
        match.Accept(InertFields.StatPrefix);
        match.RejectUnknown();
        return result;
    }

    private static List<KeyValuePair<string, StringMatch>> ParseStringMatchMap(YamlFields match, string key)
    {
        var result = new List<KeyValuePair<string, StringMatch>>();
        foreach (var (name, value) in match.ObjectMap(key))
        {
            if (name.StartsWith("@request.auth.claims", StringComparison.Ordinal))
            {
                match.Context.Error(match.Join($"{key}.{name}"), RefusedFields.JwtClaimMatch.Message, match.Node);
                continue;
            }
            if (ParseStringMatch(value, allowPresence: true) is { } parsed)
            {
                result.Add(new(name.ToLowerInvariant(), parsed));
            }
        }
        return result;
    }

    private static StringMatch? ParseStringMatch(YamlFields fields, bool allowPresence = false)
    {
        var exact = fields.String("exact");
        var prefix = fields.String("prefix");
        var regex = fields.String("regex");
        fields.RejectUnknown();
        var given = new[] { exact, prefix, regex }.Count(v => v is not null);
        if (given == 0 && allowPresence)
        {
            // route.go canBeConvertedToPresentMatch: a header or query match without a value is a presence match.
            return new StringMatch(StringMatchKind.Regex, "*", null);
        }
        if (given != 1)
        {
            fields.Context.Error(fields.Path, "must have exactly one of exact, prefix or regex", fields.Node);
            return null;
        }
        if (exact is not null)
        {
            return new StringMatch(StringMatchKind.Exact, exact, null);
        }
        if (prefix is not null)
        {
            return new StringMatch(StringMatchKind.Prefix, prefix, null);
        }
        if (allowPresence && regex == "*")
        {
            // Istio turns regex "*" on a header or query parameter into Envoy's present_match (istio/istio#20629).
            return new StringMatch(StringMatchKind.Regex, regex, null);
        }
        try
        {
            // Envoy's RE2 matches the whole value.
            var compiled = new Regex($"^(?:{regex})$", RegexOptions.CultureInvariant | RegexOptions.NonBacktracking, TimeSpan.FromMilliseconds(100));
            return new StringMatch(StringMatchKind.Regex, regex!, compiled);
        }
        catch (Exception ex) when (ex is ArgumentException or NotSupportedException)
        {
            fields.Context.Error(fields.Join("regex"), $"'{regex}' is not a valid regular expression: {ex.Message}", fields.Node);
            return null;
        }
    }

    private static RouteDestination ParseRouteDestination(YamlFields routeDestination)
    {
        var destination = routeDestination.Map("destination", required: true) is { } d ? ParseDestination(d) : new Destination("", null, null);
        // Istio refuses only a negative weight (pkg/config/validation/validation.go validateWeight); the CRD caps it at
        // int32 (format: int32, no maximum). Above 100 is a share of the destinations' sum, as Envoy's weighted_clusters is.
        var weight = routeDestination.Int("weight", 0, int.MaxValue);
        var headers = routeDestination.Map("headers") is { } h ? ParseHeaders(h) : null;
        routeDestination.RejectUnknown();
        return new RouteDestination(destination, weight, headers, routeDestination.Path);
    }

    // A Destination: host, subset and port.number, as route and mirror destinations have it.
    private static Destination ParseDestination(YamlFields destination)
    {
        var host = destination.String("host", required: true) ?? "";
        var subset = destination.String("subset");
        int? port = null;
        if (destination.Map("port") is { } p)
        {
            port = p.Int("number", 1, 65535, required: true);
            p.RejectUnknown();
        }
        destination.RejectUnknown();
        return new Destination(host, subset, port);
    }

    private static Headers ParseHeaders(YamlFields headers)
    {
        var result = new Headers(
            headers.Map("request") is { } request ? ParseHeaderOperations(request) : null,
            headers.Map("response") is { } response ? ParseHeaderOperations(response) : null);
        headers.RejectUnknown();
        return result;
    }

    private static HeaderOperations ParseHeaderOperations(YamlFields operations)
    {
        var result = new HeaderOperations(
            operations.StringMap("set"),
            operations.StringMap("add"),
            operations.StringList("remove"));
        operations.RejectUnknown();
        return result;
    }
}
