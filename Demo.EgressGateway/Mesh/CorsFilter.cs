using System.Text.RegularExpressions;
using Demo.EgressGateway.Envoy;

namespace Demo.EgressGateway.Mesh;

/// <summary>
/// Envoy's CORS filter (<c>source/extensions/filters/http/cors/cors_filter.cc</c>) for one route's policy, before
/// the fault filter and the router as Istio orders them. A request with an allowed <c>Origin</c> is a CORS request:
/// an <c>OPTIONS</c> with <c>Access-Control-Request-Method</c> is a preflight the filter answers itself (200 with
/// <c>access-control-allow-origin</c>, <c>-allow-credentials</c>, <c>-allow-methods</c>, <c>-allow-headers</c>,
/// <c>-max-age</c>; the requested method is not checked against the list); any other gets
/// <c>access-control-allow-origin</c> (and <c>-allow-credentials</c>, <c>-expose-headers</c>) on its response. A
/// request without an Origin, or with one the policy does not allow, passes untouched — but a preflight the policy
/// does not match is answered 200 without CORS headers when <c>forward_not_matching_preflights</c> is false.
/// </summary>
public sealed class CorsFilter
{
    private readonly CorsPolicy _policy;
    private readonly (StringMatcher Matcher, Regex? Regex)[] _origins;

    public CorsFilter(CorsPolicy policy)
    {
        _policy = policy;
        _origins = [.. policy.AllowOriginStringMatch.Select(m => (m, m.SafeRegex is { } r ? RouteMatcher.Compile(r.Regex, ignoreCase: false) : null))];
    }

    /// <summary>
    /// decodeHeaders: true when the filter answered the request itself (a preflight) — the status and headers are set
    /// on the response, nothing else is to be sent; otherwise false, and a CORS request's response headers are
    /// registered to be added when the response starts (encodeHeaders).
    /// </summary>
    public bool DecodeHeaders(HttpContext context)
    {
        var request = context.Request;
        var origin = request.Headers.Origin.ToString();
        var isPreflight = HttpMethods.IsOptions(request.Method) && request.Headers.ContainsKey("Access-Control-Request-Method");
        if (origin.Length == 0 || !IsOriginAllowed(origin))
        {
            if (isPreflight && _policy.ForwardNotMatchingPreflights == false)
            {
                context.Response.StatusCode = StatusCodes.Status200OK;
                return true;
            }
            return false;
        }
        var headers = context.Response.Headers;
        if (isPreflight)
        {
            context.Response.StatusCode = StatusCodes.Status200OK;
            headers.AccessControlAllowOrigin = origin;
            if (_policy.AllowCredentials == true)
            {
                headers.AccessControlAllowCredentials = "true";
            }
            SetIfAny(headers, "access-control-allow-methods", _policy.AllowMethods);
            SetIfAny(headers, "access-control-allow-headers", _policy.AllowHeaders);
            SetIfAny(headers, "access-control-max-age", _policy.MaxAge);
            return true;
        }
        context.Response.OnStarting(() =>
        {
            var response = context.Response.Headers;
            response.AccessControlAllowOrigin = origin;
            if (_policy.AllowCredentials == true)
            {
                response.AccessControlAllowCredentials = "true";
            }
            SetIfAny(response, "access-control-expose-headers", _policy.ExposeHeaders);
            return Task.CompletedTask;
        });
        return false;
    }

    // cors_filter.cc isOriginAllowed: any of the allow_origin_string_match matchers (exact, prefix, safe_regex; "*" as
    // an exact value allows every origin).
    private bool IsOriginAllowed(string origin) => _origins.Any(o =>
        o.Matcher.Exact is { } exact ? exact == "*" || exact == origin
        : o.Matcher.Prefix is { } prefix ? origin.StartsWith(prefix, StringComparison.Ordinal)
        : o.Regex!.IsMatch(origin));

    private static void SetIfAny(IHeaderDictionary headers, string name, string? value)
    {
        if (!string.IsNullOrEmpty(value))
        {
            headers[name] = value;
        }
    }
}
