using Demo.EgressGateway.Istio;
using IstioHttpFault = Demo.EgressGateway.Istio.HttpFault;
using IstioHttpRoute = Demo.EgressGateway.Istio.HttpRoute;
using IstioVirtualService = Demo.EgressGateway.Istio.VirtualService;

namespace Demo.EgressGateway.Envoy;

// istiod route/route.go BuildHTTPRoutesForVirtualService / TranslateRoute: VirtualService HTTP routes → Envoy routes.
public static partial class IstioTranslator
{
    private sealed partial class ProxyTranslation
    {
        // ---- routes: route.go BuildHTTPRoutesForVirtualService / TranslateRoute ----

        private List<Route> BuildRoutes(IstioVirtualService vs, int listenPort, IReadOnlyList<string> gatewayNames, bool sourceIsWorkload, bool isTls = false)
        {
            var vsNamespace = NamespaceOf(vs);
            var routes = new List<Route>();
            foreach (var http in vs.Http)
            {
                if (http.Match.Count == 0)
                {
                    routes.Add(TranslateRoute(vs, http, null, listenPort, isTls));
                    break;
                }
                var catchAll = false;
                foreach (var match in http.Match)
                {
                    if (match.Port is { } matchPort && matchPort != listenPort)
                    {
                        continue;
                    }
                    if (!SourceMatches(match, gatewayNames, vsNamespace, sourceIsWorkload))
                    {
                        continue;
                    }
                    var route = TranslateRoute(vs, http, match, listenPort, isTls);
                    routes.Add(route);
                    if (IsCatchAll(route.Match))
                    {
                        catchAll = true;
                        break;
                    }
                }
                if (catchAll)
                {
                    break;
                }
            }
            return routes;
        }

        // route.go sourceMatchHTTP: gateways named in the match, else sourceLabels ⊆ the proxy's labels and sourceNamespace.
        private bool SourceMatches(HttpMatch match, IReadOnlyList<string> gatewayNames, string vsNamespace, bool sourceIsWorkload) =>
            L4SourceMatches(match.Gateways, match.SourceLabels, match.SourceNamespace, gatewayNames, vsNamespace, sourceIsWorkload);

        private static bool IsCatchAll(RouteMatch match) =>
            (match.Prefix == "/" || match.SafeRegex?.Regex == ".*") && match.Headers.Count == 0 && match.QueryParameters.Count == 0;

        private Route TranslateRoute(IstioVirtualService vs, IstioHttpRoute http, HttpMatch? match, int listenPort, bool isTls)
        {
            // route.go TranslateRoute: routeName = in.Name, then "." + match.Name when the match has one (".m1" without a route name).
            var name = match?.Name is { Length: > 0 } matchName ? $"{http.Name}.{matchName}" : http.Name;
            var routeMatch = TranslateRouteMatch(match);
            var (requestHeaders, responseHeaders, authority) = TranslateHeaders(http.Headers);

            var cors = http.CorsPolicy is { } policy ? TranslateCorsPolicy(policy) : null;
            // route.go TranslateRoute: every route carries Istio's metadata, the decorator and the header operations; a
            // redirect route has no route action, and its decorator is the VirtualService's.
            var common = new Route(name, routeMatch)
            {
                Metadata = new(new(new RouteIstioMetadata(ConfigSource(vs)))),
                Decorator = new Decorator(RouteOperation(routeMatch, null, vs.Id.Name, listenPort)),
                TypedPerFilterConfig = cors is null ? null : new TypedPerFilterConfig(null, cors),
            };
            if (http.Redirect is { } redirect)
            {
                return WithHeaders(common with { Redirect = TranslateRedirect(redirect, listenPort, isTls) }, requestHeaders, responseHeaders);
            }
            if (http.DirectResponse is { } direct)
            {
                // route.go ApplyDirectResponse: status and inline body.
                var body = direct.BodyBytes is { } bytes ? new DataSource(InlineBytes: bytes)
                    : direct.Body is { } text ? new DataSource(InlineString: text)
                    : null;
                return WithHeaders(common with { DirectResponse = new DirectResponseAction(direct.Status, body) }, requestHeaders, responseHeaders);
            }

            var timeout = http.Timeout ?? TimeSpan.Zero;
            string? hostRewrite = authority;
            if (!string.IsNullOrEmpty(http.RewriteAuthority))
            {
                hostRewrite = http.RewriteAuthority;
            }
            var prefixRewrite = http.RewriteUri;

            string? cluster = null;
            WeightedCluster? weighted = null;
            if (http.Route.Count == 1)
            {
                var destination = http.Route[0];
                cluster = DestinationCluster(destination.Destination, listenPort);
                if (destination.Headers is { } headers)
                {
                    var (request, response, destinationAuthority) = TranslateHeaders(headers);
                    requestHeaders = Concat(requestHeaders, request);
                    responseHeaders = Concat(responseHeaders, response);
                    // route.go processDestination: the destination's Host only when the route sets none.
                    hostRewrite ??= destinationAuthority;
                }
            }
            else
            {
                var clusters = new List<ClusterWeight>();
                foreach (var destination in http.Route)
                {
                    var weight = destination.Weight ?? 0;
                    if (weight == 0)
                    {
                        // route.go: zero-weight destinations are dropped when the route has several.
                        continue;
                    }
                    var (request, response, destinationAuthority) = TranslateHeaders(destination.Headers);
                    clusters.Add(new ClusterWeight(DestinationCluster(destination.Destination, listenPort), weight, destinationAuthority)
                    {
                        RequestHeadersToAdd = request.ToAdd,
                        RequestHeadersToRemove = request.ToRemove,
                        ResponseHeadersToAdd = response.ToAdd,
                        ResponseHeadersToRemove = response.ToRemove,
                    });
                }
                weighted = new WeightedCluster(clusters);
            }

            var action = new RouteAction(cluster, weighted, hostRewrite, prefixRewrite, timeout,
                ConvertRetryPolicy(http.Retries, environment.IstioVersion))
            {
                HashPolicy = http.Route.Where(d => http.Route.Count == 1 || (d.Weight ?? 0) > 0)
                    .SelectMany(d => HashPolicyFor(d.Destination, d.Destination.Port ?? listenPort)).Distinct().ToList(),
                // route.go: a mirror of 0% is left out; no percentage is 100%.
                RequestMirrorPolicies = http.Mirrors.Where(m => m.Percentage is not 0)
                    .Select(m => new RequestMirrorPolicy(DestinationCluster(m.Destination, listenPort),
                        new RuntimeFractionalPercent(new FractionalPercent((uint)Math.Round((m.Percentage ?? 100) * 10_000), "MILLION"))))
                    .ToList(),
            };
            var fault = TranslateFault(http.Fault);
            return WithHeaders(common with
            {
                Action = action,
                Decorator = new Decorator(RouteOperation(routeMatch, action, vs.Id.Name, listenPort)),
                TypedPerFilterConfig = fault is null && cors is null ? null : new TypedPerFilterConfig(fault, cors),
            }, requestHeaders, responseHeaders);
        }

        private static Route WithHeaders(Route route, HeaderOperations request, HeaderOperations response) => route with
        {
            RequestHeadersToAdd = request.ToAdd,
            RequestHeadersToRemove = request.ToRemove,
            ResponseHeadersToAdd = response.ToAdd,
            ResponseHeadersToRemove = response.ToRemove,
        };

        // route.go translateCORSPolicy: lists joined with ",", max_age in seconds; unmatchedPreflights FORWARD → true,
        // IGNORE → false, unset → left to Envoy (true).
        private static CorsPolicy TranslateCorsPolicy(Istio.CorsPolicy policy) => new(
            policy.AllowOrigins.Select(ToStringMatcher).ToList(),
            policy.AllowMethods.Count > 0 ? string.Join(',', policy.AllowMethods) : null,
            policy.AllowHeaders.Count > 0 ? string.Join(',', policy.AllowHeaders) : null,
            policy.ExposeHeaders.Count > 0 ? string.Join(',', policy.ExposeHeaders) : null,
            policy.MaxAge is { } age ? ((long)age.TotalSeconds).ToString(System.Globalization.CultureInfo.InvariantCulture) : null,
            policy.AllowCredentials,
            policy.UnmatchedPreflights switch { "FORWARD" => true, "IGNORE" => false, _ => null });

        // route.go ApplyRedirect: FROM_REQUEST_PORT is the listener's port (routes are built per port); no explicit port
        // for the scheme's default (80 for http, 443 for https); 301 unless redirectCode says 302, 303, 307 or 308.
        private static RedirectAction TranslateRedirect(HttpRedirect redirect, int listenPort, bool isTls)
        {
            var port = redirect.Port ?? (redirect.DerivePort == "FROM_REQUEST_PORT" ? listenPort : 0);
            if (redirect.Port is not null || redirect.DerivePort is not null)
            {
                var scheme = string.IsNullOrEmpty(redirect.Scheme) ? (isTls ? "https" : "http") : redirect.Scheme;
                if ((port == 80 && scheme == "http") || (port == 443 && scheme == "https"))
                {
                    port = 0;
                }
            }
            // Istio 1.30's HTTPRedirect has no prefixRewrite (its CRD refuses the field), so istiod writes none.
            return new RedirectAction(string.IsNullOrEmpty(redirect.Authority) ? null : redirect.Authority, redirect.Uri, null,
                string.IsNullOrEmpty(redirect.Scheme) ? null : redirect.Scheme, port > 0 ? port : null,
                RedirectAction.ResponseCodeOf(redirect.RedirectCode ?? 301));
        }

        // route.go GetRouteOperation: host:port/path for one cluster, else the VirtualService's name.
        private static string RouteOperation(RouteMatch match, RouteAction? action, string vsName, int port)
        {
            var path = match.Prefix is { } prefix ? prefix + "*" : match.Path ?? match.SafeRegex?.Regex ?? "/*";
            if (action?.Cluster is { } cluster && cluster.Split('|') is [_, var clusterPort, _, var host])
            {
                return $"{host}:{clusterPort}{path}";
            }
            return $"{vsName}:{port}{path}";
        }

        // route.go GetDestinationCluster: the destination's port, else the service's only port, else the listener's.
        private string DestinationCluster(Destination destination, int listenPort)
        {
            var port = destination.Port
                ?? (_services.TryGetValue(destination.Host, out var service) && service.Ports.Count == 1 ? service.Ports[0].Number : listenPort);
            return ClusterName(port, destination.Subset, destination.Host);
        }

        public static string ClusterName(int port, string? subset, string host) => $"outbound|{port}|{subset}|{host}";

        private static HeaderOperations Concat(HeaderOperations first, HeaderOperations second) =>
            first.IsEmpty ? second : second.IsEmpty ? first : new([.. first.ToAdd, .. second.ToAdd], [.. first.ToRemove, .. second.ToRemove]);

        // route.go TranslateHeadersOperations: Host/:authority in set (or add) becomes the authority rewrite; the
        // pseudo-headers and Host are never added or removed as plain headers.
        private static (HeaderOperations Request, HeaderOperations Response, string? Authority) TranslateHeaders(Headers? headers)
        {
            if (headers is null)
            {
                return (HeaderOperations.None, HeaderOperations.None, null);
            }
            var (requestSet, setAuthority) = AppendHeaders(headers.Request?.Set, append: false);
            var (requestAdd, addAuthority) = AppendHeaders(headers.Request?.Add, append: true);
            var (responseSet, _) = AppendHeaders(headers.Response?.Set, append: false);
            var (responseAdd, _) = AppendHeaders(headers.Response?.Add, append: true);
            var request = new HeaderOperations([.. requestSet, .. requestAdd], DropInternal(headers.Request?.Remove));
            var response = new HeaderOperations([.. responseSet, .. responseAdd], DropInternal(headers.Response?.Remove));
            return (request, response, setAuthority ?? addAuthority);
        }

        private static (List<HeaderValueOption> Options, string? Authority) AppendHeaders(IReadOnlyList<KeyValuePair<string, string>>? headers, bool append)
        {
            var options = new List<HeaderValueOption>();
            string? authority = null;
            foreach (var (key, value) in headers ?? [])
            {
                if (key.Equals(":authority", StringComparison.OrdinalIgnoreCase) || key.Equals("host", StringComparison.OrdinalIgnoreCase))
                {
                    authority = value;
                }
                if (key.StartsWith(':') || key.Equals("host", StringComparison.OrdinalIgnoreCase))
                {
                    continue;
                }
                options.Add(new HeaderValueOption(new HeaderValue(key, value), append ? HeaderValueOption.AppendIfExists : HeaderValueOption.Overwrite));
            }
            options.Sort((a, b) => string.CompareOrdinal(a.Header.Key, b.Header.Key));
            return (options, authority);
        }

        private static List<string> DropInternal(IReadOnlyList<string>? keys) =>
            (keys ?? []).Where(k => !k.StartsWith(':') && !k.Equals("host", StringComparison.OrdinalIgnoreCase)).ToList();

        // route.go TranslateRouteMatch.
        private static RouteMatch TranslateRouteMatch(HttpMatch? match)
        {
            if (match is null)
            {
                return CatchAll();
            }
            var headers = new List<HeaderMatcher>();
            foreach (var (name, value) in match.Headers)
            {
                headers.Add(HeaderMatch(name, value, invert: false));
            }
            foreach (var (name, value) in match.WithoutHeaders)
            {
                var matcher = HeaderMatch(name, value, invert: true);
                headers.Add(matcher.PresentMatch is null ? matcher with { TreatMissingHeaderAsEmpty = true } : matcher);
            }
            headers.Sort((a, b) => string.CompareOrdinal(a.Name, b.Name));
            string? prefix = "/";
            string? path = null;
            string? regex = null;
            if (match.Uri is { } uri)
            {
                prefix = null;
                switch (uri.Kind)
                {
                    case StringMatchKind.Exact: path = uri.Value; break;
                    case StringMatchKind.Prefix: prefix = uri.Value; break;
                    default: regex = uri.Value; break;
                }
            }
            if (match.Method is { } method)
            {
                headers.Add(HeaderMatch(":method", method, invert: false));
            }
            if (match.Authority is { } authority)
            {
                headers.Add(HeaderMatch(":authority", authority, invert: false));
            }
            if (match.Scheme is { } scheme)
            {
                headers.Add(HeaderMatch(":scheme", scheme, invert: false));
            }
            var query = match.QueryParams
                .Select(q => IsPresentMatch(q.Value)
                    ? new QueryParameterMatcher(q.Key, null, true)
                    : new QueryParameterMatcher(q.Key, ToStringMatcher(q.Value), null))
                .ToList();
            // route.go TranslateRouteMatch: case_sensitive is written (false) only for ignoreUriCase.
            return new RouteMatch(prefix, path, regex is null ? null : new RegexMatcher(regex), match.IgnoreUriCase ? false : null, headers, query);
        }

        // route.go canBeConvertedToPresentMatch: regex "*" is Istio's "present" (istio/istio#20629).
        private static bool IsPresentMatch(StringMatch match) => match is { Kind: StringMatchKind.Regex, Value: "*" };

        private static HeaderMatcher HeaderMatch(string name, StringMatch value, bool invert) =>
            IsPresentMatch(value)
                ? new HeaderMatcher(name, null, true, invert, false)
                : new HeaderMatcher(name, ToStringMatcher(value), null, invert, false);

        private static StringMatcher ToStringMatcher(StringMatch match) => match.Kind switch
        {
            StringMatchKind.Exact => new StringMatcher(match.Value, null, null),
            StringMatchKind.Prefix => new StringMatcher(null, match.Value, null),
            _ => new StringMatcher(null, null, new RegexMatcher(match.Value)),
        };

        // route.go TranslateFault: percentage.value × 10 000 per MILLION; a delay without percentage gets its deprecated
        // integer percent per HUNDRED (0 when that is absent too); an abort without percentage has none (0%).
        private static HttpFault? TranslateFault(IstioHttpFault? fault)
        {
            if (fault is null || (fault.Delay is null && fault.Abort is null))
            {
                return null;
            }
            FaultDelay? delay = fault.Delay is { } d
                ? new FaultDelay(d.FixedDelay, d.Percentage is { } given && !d.IntegerPercent ? Fraction(given) : new FractionalPercent((uint)(d.Percentage ?? 0), "HUNDRED"))
                : null;
            FaultAbort? abort = fault.Abort is { } a
                ? new FaultAbort(a.HttpStatus, Fraction(a.Percentage))
                : null;
            return new HttpFault(delay, abort);
        }

        // translatePercentToFractionalPercent: uint32(p.Value * 10000), truncated.
        private static FractionalPercent Fraction(double? percent) =>
            new((uint)((percent ?? 0) * 10_000), "MILLION");
    }
}
