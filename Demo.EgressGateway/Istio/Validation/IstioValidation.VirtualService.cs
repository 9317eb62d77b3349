using System.Globalization;

namespace Demo.EgressGateway.Istio.Validation;

using Demo.EgressGateway.Istio.Api;

// IstioValidation, continued: VirtualService HTTP rules (validation.go ValidateVirtualService; virtualservice.go
// validateHTTPRoute and what it calls; agent/validation.go ValidateHTTPRetry).
internal static partial class IstioValidation
{
    private static readonly string[] CorsMethods = ["GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"];

    /// <summary>
    /// validation.go <c>ValidateVirtualService</c>: hosts (a VirtualService without them is a delegate, which the local
    /// gateway refuses, so it words the rule as a required field), at least one route, then each route's rules.
    /// </summary>
    public static void ValidateVirtualService(VirtualService service, Findings v)
    {
        if (service.Hosts is not { Count: > 0 })
        {
            v.Error("spec.hosts", service.Hosts is null ? "is required" : "must not be empty");
        }
        if (service.Http is not { Count: > 0 } && service.Tls is not { Count: > 0 } && service.Tcp is not { Count: > 0 })
        {
            v.Error("spec", "http, tcp or tls must be provided in virtual service");
        }
        foreach (var (route, i) in (service.Http ?? []).Select((r, i) => (r, i)))
        {
            ValidateHTTPRoute(route, $"spec.http[{i}]", v);
        }
        foreach (var (route, i) in (service.Tls ?? []).Select((r, i) => (r, i)))
        {
            ValidateTLSRoute(route, service.Hosts ?? [], $"spec.tls[{i}]", v);
        }
        foreach (var (route, i) in (service.Tcp ?? []).Select((r, i) => (r, i)))
        {
            ValidateTCPRoute(route, $"spec.tcp[{i}]", v);
        }
    }

    /// <summary>virtualservice.go <c>validateHTTPRoute</c>.</summary>
    public static void ValidateHTTPRoute(HTTPRoute http, string path, Findings v)
    {
        ValidateHTTPRouteConflict(http, path, v);
        ValidateHTTPRouteMatchRequest(http, path, v);
        if (http.CorsPolicy is { } cors)
        {
            ValidateCORSPolicy(cors, $"{path}.corsPolicy", v);
        }
        if (http.Fault is { } fault)
        {
            ValidateHTTPFaultInjection(fault, $"{path}.fault", v);
        }
        ValidateMirrorPercent(http.MirrorPercent, $"{path}.mirrorPercent", v);
        ValidateMirrorPercent(http.MirrorPercentSnakeCase, $"{path}.mirror_percent", v);
        if (http.MirrorPercentage?.Value is { } percentage and (> 100 or < 0))
        {
            v.Error($"{path}.mirrorPercentage.value", percentage > 100
                ? $"mirror_percentage must have a max value of 100 (it has {Go(percentage)})"
                : $"mirror_percentage must have a min value of 0 (it has {Go(percentage)})");
        }
        ValidateDestination(http.Mirror, $"{path}.mirror", v);
        ValidateHTTPMirrors(http.Mirrors, $"{path}.mirrors", v);
        if (http.Redirect is { } redirect)
        {
            ValidateHTTPRedirect(redirect, $"{path}.redirect", v);
        }
        if (http.DirectResponse is { } response)
        {
            ValidateHTTPDirectResponse(response, $"{path}.directResponse", v);
        }
        if (http.Retries is { } retries)
        {
            ValidateHTTPRetry(retries, $"{path}.retries", v);
        }
        ValidateAuthorityRewrite(http.Rewrite, http.Headers, path, v);
        ValidateHTTPRouteDestinations(http.Route, $"{path}.route", v);
    }

    /// <summary>virtualservice.go <c>validateHTTPRouteConflict</c>: a route forwards, redirects or answers directly.</summary>
    public static void ValidateHTTPRouteConflict(HTTPRoute http, string path, Findings v)
    {
        var routes = http.Route is { Count: > 0 };
        var conflict = (http.Redirect, http.DirectResponse) switch
        {
            ({ }, _) when routes => "HTTP route cannot contain both route and redirect",
            ({ }, _) when http.Fault is not null => "HTTP route cannot contain both fault and redirect",
            ({ }, _) when http.Rewrite is not null => "HTTP route rule cannot contain both rewrite and redirect",
            ({ }, { }) => "HTTP route rule cannot contain both direct_response and redirect",
            (null, { }) when routes => "HTTP route cannot contain both route and direct_response",
            (null, { }) when http.Fault is not null => "HTTP route cannot contain both fault and direct_response",
            (null, { }) when http.Rewrite is not null => "HTTP route rule cannot contain both rewrite and direct_response",
            (null, null) when !routes => "HTTP route, redirect or direct_response is required",
            _ => null,
        };
        if (conflict is not null)
        {
            v.Error(path, conflict);
        }
        if (http.Mirror is not null && http.Mirrors is { Count: > 0 })
        {
            v.Error(path, "HTTP route cannot contain both mirror and mirrors");
        }
    }

    /// <summary>
    /// virtualservice.go <c>validateHTTPRouteMatchRequest</c>: each string match's regex (<see cref="ValidateStringMatch"/>)
    /// and the port (agent <c>ValidatePort</c>).
    /// </summary>
    public static void ValidateHTTPRouteMatchRequest(HTTPRoute http, string path, Findings v)
    {
        foreach (var (match, i) in (http.Match ?? []).Select((m, i) => (m, i)))
        {
            var at = $"{path}.match[{i}]";
            foreach (var (name, value) in new[] { ("uri", match.Uri), ("scheme", match.Scheme), ("method", match.Method), ("authority", match.Authority) })
            {
                ValidateStringMatch(value, $"{at}.{name}", v);
            }
            foreach (var (map, name) in new[] { (match.Headers, "headers"), (match.WithoutHeaders, "withoutHeaders"), (match.QueryParams, "queryParams") })
            {
                foreach (var (key, value) in map ?? new Dictionary<string, StringMatch?>())
                {
                    // route.go: regex "*" on a header or query parameter is Envoy's present_match, not a regex.
                    ValidateStringMatch(value is { Regex: "*" } ? null : value, $"{at}.{name}.{key}", v);
                }
            }
            ValidatePort(match.Port, $"{at}.port", v);
        }
    }

    /// <summary>
    /// validation.go <c>validateStringMatchRegexp</c> / <c>validateStringRegexp</c>: the regex compiles (Istio: RE2;
    /// here .NET's non-backtracking engine, which matches whole values as Envoy's RE2 does) and is at most 1024 long.
    /// </summary>
    public static void ValidateStringMatch(StringMatch? match, string path, Findings v)
    {
        if (match?.Regex is not { } regex)
        {
            return;
        }
        if (regex.Length > 1024)
        {
            v.Error($"{path}.regex", "regex is too large, max length allowed is 1024");
        }
        else if (RegexCache.Compile(regex, out var error) is null)
        {
            v.Error($"{path}.regex", $"'{regex}' is not a valid regular expression: {error}");
        }
    }

    /// <summary>
    /// virtualservice.go <c>validateCORSPolicy</c>: methods Envoy knows (<c>validateCORSHTTPMethod</c>), header names
    /// (<c>ValidateCORSHTTPHeaderName</c>), max_age in whole seconds.
    /// </summary>
    public static void ValidateCORSPolicy(CorsPolicy cors, string path, Findings v)
    {
        foreach (var (origin, i) in (cors.AllowOrigins ?? []).Select((o, i) => (o, i)))
        {
            ValidateStringMatch(origin, $"{path}.allowOrigins[{i}]", v);
        }
        foreach (var method in (cors.AllowMethods ?? []).Where(m => !CorsMethods.Contains(m)))
        {
            v.Error($"{path}.allowMethods", $"'{method}' is not a supported HTTP method");
        }
        foreach (var header in (cors.AllowHeaders ?? []).Concat(cors.ExposeHeaders ?? [])
            .Where(h => h.Length == 0 || h.Any(ch => ch <= ' ' || ch >= 127 || "()<>@,;:\\\"/[]?={}".Contains(ch))))
        {
            v.Error($"{path}.allowHeaders", $"'{header}' is not a valid header name");
        }
        if (cors.MaxAge is { } text && Durations.TryParse(text, out var maxAge) && maxAge.Ticks % TimeSpan.TicksPerSecond != 0)
        {
            v.Error($"{path}.maxAge", "max_age duration is accurate only to seconds precision");
        }
    }

    /// <summary>
    /// validation.go <c>validateHTTPFaultInjection</c>, <c>validateHTTPFaultInjectionAbort</c> (<c>validateHTTPStatus</c>)
    /// and <c>validateHTTPFaultInjectionDelay</c>: percentages (<c>validatePercentage</c>) and the abort's status.
    /// </summary>
    public static void ValidateHTTPFaultInjection(HTTPFaultInjection fault, string path, Findings v)
    {
        if (fault.Delay is { } delay)
        {
            ValidatePercentage(delay.Percentage, $"{path}.delay.percentage.value", v);
            ValidatePercent(delay.Percent, $"{path}.delay.percent", v);
        }
        if (fault.Abort is { } abort)
        {
            ValidatePercentage(abort.Percentage, $"{path}.abort.percentage.value", v);
            ValidateHTTPStatus(abort.HttpStatus, $"{path}.abort.httpStatus", v);
        }
    }

    /// <summary>validation.go <c>validatePercentage</c>.</summary>
    public static void ValidatePercentage(Percent? percentage, string path, Findings v)
    {
        if (percentage?.Value is { } value && (value < 0 || value > 100 || (value > 0 && value < 0.0001)))
        {
            v.Error(path, $"percentage {value.ToString(CultureInfo.InvariantCulture)} is neither 0.0, nor in range [0.0001, 100.0]");
        }
    }

    /// <summary>validation.go <c>validateHTTPStatus</c> (it lets 600 through; its message says 599).</summary>
    public static void ValidateHTTPStatus(long? status, string path, Findings v)
    {
        if (status is < 200 or > 600)
        {
            v.Error(path, $"HTTP status {status} is not in range 200-599");
        }
    }

    /// <summary>virtualservice.go <c>validateHTTPRoute</c>: the deprecated mirrorPercent (and mirror_percent) is at most 100.</summary>
    public static void ValidateMirrorPercent(uint? value, string path, Findings v)
    {
        if (value is > 100)
        {
            v.Error(path, $"mirror_percent must have a max value of 100 (it has {value})");
        }
    }

    /// <summary>validation.go <c>validateHTTPMirrors</c>.</summary>
    public static void ValidateHTTPMirrors(IReadOnlyList<HTTPMirrorPolicy>? mirrors, string path, Findings v)
    {
        foreach (var (mirror, i) in (mirrors ?? []).Select((m, i) => (m, i)))
        {
            ValidateDestination(mirror.Destination, $"{path}[{i}].destination", v);
            if (mirror.Percentage?.Value is { } value and (> 100 or < 0))
            {
                v.Error($"{path}[{i}].percentage.value", value > 100
                    ? $"mirror percentage must have a max value of 100 (it has {Go(value)})"
                    : $"mirror percentage must have a min value of 0 (it has {Go(value)})");
            }
        }
    }

    /// <summary>validation.go <c>validateDestination</c>: the port (<c>validatePortSelector</c>).</summary>
    public static void ValidateDestination(Destination? destination, string path, Findings v) =>
        ValidatePort(destination?.Port?.Number, $"{path}.port.number", v);

    /// <summary>agent/validation.go <c>ValidatePort</c> (for a port that is set: 0 is "unset" in the API).</summary>
    public static void ValidatePort(long? port, string path, Findings v)
    {
        if (port is not null and (< 1 or > 65535))
        {
            v.Error(path, $"port number {port} must be in the range 1..65535");
        }
    }

    /// <summary>
    /// agent/validation.go <c>ValidateHTTPRetry</c>: attempts, a policy with attempts 0 (Istio's message, with what to
    /// do), and each retryOn condition split on ',' exactly as istiod does (a space is part of the condition; a code is
    /// one Go's http.StatusText knows).
    /// </summary>
    public static void ValidateHTTPRetry(HTTPRetry retries, string path, Findings v)
    {
        if (retries.Attempts is < 0)
        {
            v.Error($"{path}.attempts", "attempts cannot be negative");
        }
        if (retries.Attempts is null or 0 && (retries.PerTryTimeout is not null || !string.IsNullOrEmpty(retries.RetryOn) || retries.RetryRemoteLocalities is not null))
        {
            v.Error($"{path}.attempts", "http retry policy configured when attempts are set to 0 (disabled): Istio refuses it; drop the other fields or set attempts");
        }
        foreach (var condition in string.IsNullOrEmpty(retries.RetryOn) ? [] : retries.RetryOn.Split(','))
        {
            if (!RetryConditions.IsKnown(condition))
            {
                v.Error($"{path}.retryOn",
                    $"\"{condition}\" is not a valid retryOn policy (Envoy conditions: {string.Join(", ", RetryConditions.Known)}; or an HTTP status code)");
            }
        }
    }

    /// <summary>virtualservice.go <c>validateAuthorityRewrite</c>: one route sets its Host in one place only.</summary>
    public static void ValidateAuthorityRewrite(HTTPRewrite? rewrite, Headers? headers, string path, Findings v)
    {
        static bool IsAuthority(string name) =>
            name.Equals("host", StringComparison.OrdinalIgnoreCase) || name.Equals(":authority", StringComparison.OrdinalIgnoreCase);
        var request = headers?.Request;
        var authorities = new[] { rewrite?.Authority }
            .Concat((request?.Set ?? new Dictionary<string, string>()).Where(kv => IsAuthority(kv.Key)).Select(kv => kv.Value))
            .Concat((request?.Add ?? new Dictionary<string, string>()).Where(kv => IsAuthority(kv.Key)).Select(kv => kv.Value))
            .Where(a => !string.IsNullOrEmpty(a))
            .ToList();
        if (authorities.Count > 1)
        {
            v.Error($"{path}.headers.request", $"authority header cannot be set multiple times: have \"{authorities[0]}\", attempting to set \"{authorities[1]}\" "
                + "(rewrite.authority and a Host/:authority header are one setting; Istio refuses both)");
        }
    }

    /// <summary>validation.go <c>validateHTTPRouteDestinations</c>: each destination's port and weight (<c>validateWeight</c>).</summary>
    public static void ValidateHTTPRouteDestinations(IReadOnlyList<HTTPRouteDestination>? destinations, string path, Findings v)
    {
        foreach (var (destination, i) in (destinations ?? []).Select((d, i) => (d, i)))
        {
            ValidateDestination(destination.Destination, $"{path}[{i}].destination", v);
            if (destination.Weight is < 0)
            {
                v.Error($"{path}[{i}].weight", $"weight {destination.Weight} < 0");
            }
        }
    }

    // Go's %f.
    private static string Go(double value) => value.ToString("F6", CultureInfo.InvariantCulture);
}
