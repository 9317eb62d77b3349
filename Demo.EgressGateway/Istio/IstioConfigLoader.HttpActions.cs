namespace Demo.EgressGateway.Istio;

// IstioConfigLoader, continued: what an HTTP route does besides forwarding — redirect, directResponse, corsPolicy and
// mirrors — with Istio's validation rules for each.
public static partial class IstioConfigLoader
{
    // validation.go validateHTTPRedirect.
    private static HttpRedirect ParseRedirect(YamlFields redirect, IReadOnlyList<HttpMatch> matches)
    {
        var uri = redirect.String("uri");
        var prefixRewrite = redirect.String("prefixRewrite");
        var authority = redirect.String("authority");
        var scheme = redirect.String("scheme");
        var port = redirect.Int("port", 0, uint.MaxValue);
        var derivePort = redirect.String("derivePort");
        var code = redirect.Int("redirectCode", 0, uint.MaxValue);
        redirect.RejectUnknown();
        void Fail(string field, string message) => redirect.Context.Error(redirect.Join(field), message, redirect.Node);
        if (!string.IsNullOrEmpty(uri) && !string.IsNullOrEmpty(prefixRewrite))
        {
            Fail("prefixRewrite", "redirect may only specify one of uri or prefix_rewrite");
        }
        if (!string.IsNullOrEmpty(prefixRewrite) && matches.Any(m => m.Uri is { Kind: not StringMatchKind.Prefix }))
        {
            Fail("prefixRewrite", "redirect prefix_rewrite requires all URI matches to use prefix match type");
        }
        if (string.IsNullOrEmpty(uri) && string.IsNullOrEmpty(prefixRewrite) && string.IsNullOrEmpty(authority) && port is null
            && derivePort is null && string.IsNullOrEmpty(scheme))
        {
            redirect.Context.Error(redirect.Path, "redirect must specify URI, authority, scheme, or port", redirect.Node);
        }
        if (port is not null && derivePort is not null)
        {
            Fail("derivePort", "redirect may only specify one of port or derivePort (one redirectPort)");
        }
        if (derivePort is not null and not ("FROM_PROTOCOL_DEFAULT" or "FROM_REQUEST_PORT"))
        {
            Fail("derivePort", $"must be FROM_PROTOCOL_DEFAULT or FROM_REQUEST_PORT, got '{derivePort}'");
        }
        if (code is not null and not 0 and (< 300 or > 399))
        {
            Fail("redirectCode", $"{code} is not a valid redirect code, must be 3xx");
        }
        else if (code is not null and not (0 or 301 or 302 or 303 or 307 or 308))
        {
            // route.go ApplyRedirect logs "Redirect Code %d is not yet supported" and writes a route without an action.
            Fail("redirectCode", $"{code} passes Istio's validation, but istiod writes no redirect for it (only 301, 302, 303, 307 and 308)");
        }
        if (!string.IsNullOrEmpty(scheme) && scheme is not ("http" or "https"))
        {
            Fail("scheme", "invalid redirect scheme, must be \"http\" or \"https\"");
        }
        if (port is > 65535)
        {
            Fail("port", $"port number {port} must be in the range 1..65535");
        }
        // validation.go checks the port only when it is above 0; route.go ApplyRedirect then writes port 0, i.e. none.
        return new HttpRedirect(uri, prefixRewrite, authority, scheme, (int?)port, derivePort, code is null or 0 ? null : (int)code);
    }

    // validation.go validateHTTPDirectResponse: a status Envoy can send (validateHTTPStatus: 200–599); a body over
    // 1 MB is refused, over 100 KB warned about.
    private static HttpDirectResponse ParseDirectResponse(YamlFields response)
    {
        var status = response.Int("status", 200, 599, required: true) ?? 200;
        string? body = null;
        byte[]? bytes = null;
        if (response.Map("body") is { } b)
        {
            body = b.String("string");
            if (b.String("bytes") is { } encoded)
            {
                try
                {
                    bytes = Convert.FromBase64String(encoded);
                }
                catch (FormatException)
                {
                    b.Context.Error(b.Join("bytes"), "must be base64", b.Node);
                }
            }
            b.RejectUnknown();
            var size = bytes?.Length ?? (body is null ? 0 : System.Text.Encoding.UTF8.GetByteCount(body));
            if (size > 1024 * 1024)
            {
                b.Context.Error(b.Path, "large direct_responses may impact control plane performance, must be less than 1MB", b.Node);
            }
            else if (size > 100 * 1024)
            {
                b.Context.Warning(b.Path, "large direct_responses may impact control plane performance", b.Node);
            }
        }
        response.RejectUnknown();
        return new HttpDirectResponse(status, body, bytes);
    }

    // virtualservice.go validateCORSPolicy: max_age in whole seconds, methods Envoy knows, header names.
    private static CorsPolicy ParseCorsPolicy(YamlFields cors)
    {
        var origins = cors.MapList("allowOrigins").Select(o => ParseStringMatch(o)).OfType<StringMatch>()
            .Concat(cors.StringList("allowOrigin").Select(o => new StringMatch(StringMatchKind.Exact, o, null)))
            .ToList();
        var methods = cors.StringList("allowMethods");
        foreach (var method in methods.Where(m => m is not ("GET" or "HEAD" or "POST" or "PUT" or "DELETE" or "CONNECT" or "OPTIONS" or "TRACE" or "PATCH")))
        {
            cors.Context.Error(cors.Join("allowMethods"), $"'{method}' is not a supported HTTP method", cors.Node);
        }
        var allowHeaders = cors.StringList("allowHeaders");
        var exposeHeaders = cors.StringList("exposeHeaders");
        foreach (var header in allowHeaders.Concat(exposeHeaders).Where(h => h.Length == 0 || h.Any(ch => ch <= ' ' || ch >= 127 || "()<>@,;:\\\"/[]?={}".Contains(ch))))
        {
            cors.Context.Error(cors.Join("allowHeaders"), $"'{header}' is not a valid header name", cors.Node);
        }
        var maxAge = cors.Duration("maxAge", TimeSpan.Zero);
        if (maxAge is { } age && age.Ticks % TimeSpan.TicksPerSecond != 0)
        {
            cors.Context.Error(cors.Join("maxAge"), "max_age duration is accurate only to seconds precision", cors.Node);
        }
        var credentials = cors.Bool("allowCredentials");
        var unmatched = cors.String("unmatchedPreflights");
        if (unmatched is not null and not ("UNSPECIFIED" or "FORWARD" or "IGNORE"))
        {
            cors.Context.Error(cors.Join("unmatchedPreflights"), $"must be FORWARD or IGNORE, got '{unmatched}'", cors.Node);
        }
        cors.Refuse(RefusedFields.CorsAllowPrivateNetworkAccess);
        cors.RejectUnknown();
        return new CorsPolicy(origins, methods, allowHeaders, exposeHeaders, maxAge, credentials, unmatched);
    }

    // route.go: mirror with mirrorPercentage (default 100; the deprecated integer mirrorPercent and mirror_percent
    // when it is unset), or mirrors, each with its own percentage; virtualservice.go: not both mirror and mirrors,
    // percentages 0–100.
    private static List<HttpMirror> ParseMirrors(YamlFields route)
    {
        var mirrors = new List<HttpMirror>();
        var percentage = route.Map("mirrorPercentage") is { } mp ? ParseMirrorPercentage(mp) : null;
        var legacy = route.Int("mirrorPercent", 0, 100) ?? route.Int("mirror_percent", 0, 100);
        if (route.Map("mirror") is { } mirror)
        {
            mirrors.Add(new HttpMirror(ParseDestination(mirror), percentage ?? legacy));
        }
        var list = route.MapList("mirrors");
        if (list.Count > 0 && mirrors.Count > 0)
        {
            route.Context.Error(route.Path, "HTTP route cannot contain both mirror and mirrors", route.Node);
        }
        foreach (var item in list)
        {
            var destination = item.Map("destination", required: true) is { } d ? ParseDestination(d) : new Destination("", null, null);
            var itemPercentage = item.Map("percentage") is { } p ? ParseMirrorPercentage(p) : null;
            item.RejectUnknown();
            mirrors.Add(new HttpMirror(destination, itemPercentage));
        }
        return mirrors;
    }

    private static double? ParseMirrorPercentage(YamlFields percentage)
    {
        var value = percentage.Double("value", 0, 100);
        percentage.RejectUnknown();
        return value;
    }
}
