using Demo.EgressGateway.Istio.Validation;
using Api = Demo.EgressGateway.Istio.Api;

namespace Demo.EgressGateway.Istio;

// IstioConfigLoader, continued: VirtualService from its API record (HTTP routes, matches, faults, retries,
// destinations, headers, redirects, direct responses, CORS, mirrors; tls and tcp routes), after Istio's webhook rules.
public static partial class IstioConfigLoader
{
    private static VirtualService VirtualServiceOf(ResourceId id, Api.VirtualService spec, Findings findings)
    {
        IstioValidation.ValidateVirtualService(spec, findings);
        var hosts = spec.Hosts ?? [];
        var tls = (spec.Tls ?? []).Select((route, i) => new TlsRoute(i,
            [.. (route.Match ?? []).Select(m => new TlsMatch(m.SniHosts ?? [], Int(m.Port), m.Gateways ?? [])
            {
                SourceLabels = Labels(m.SourceLabels),
                SourceNamespace = m.SourceNamespace,
            })],
            RouteDestinationsOf(route.Route, $"spec.tls[{i}].route")));
        var tcp = (spec.Tcp ?? []).Select((route, i) => new TcpRoute(i,
            [.. (route.Match ?? []).Select(m => new L4Match(Int(m.Port), m.Gateways ?? [])
            {
                SourceLabels = Labels(m.SourceLabels),
                SourceNamespace = m.SourceNamespace,
            })],
            RouteDestinationsOf(route.Route, $"spec.tcp[{i}].route")));
        return new VirtualService(id, hosts, spec.Gateways ?? [], [.. (spec.Http ?? []).Select(HttpRouteOf)])
        {
            ExportTo = spec.ExportTo ?? [],
            Tls = [.. tls],
            Tcp = [.. tcp],
        };
    }

    private static HttpRoute HttpRouteOf(Api.HTTPRoute route, int index)
    {
        var retries = route.Retries is { } r
            ? new HttpRetry(r.Attempts ?? 0, Duration(r.PerTryTimeout), r.RetryOn, Duration(r.Backoff)) { RetryIgnorePreviousHosts = r.RetryIgnorePreviousHosts }
            : null;
        var fault = route.Fault is { } f ? new HttpFault(DelayOf(f.Delay), AbortOf(f.Abort)) : null;
        return new HttpRoute(index, route.Name, [.. (route.Match ?? []).Select(MatchOf)], RouteDestinationsOf(route.Route, $"spec.http[{index}].route"),
            route.Rewrite?.Authority, route.Rewrite?.Uri, Duration(route.Timeout), retries, fault, HeadersOf(route.Headers))
        {
            Redirect = route.Redirect is { } redirect
                ? new HttpRedirect(redirect.Uri, redirect.Authority, redirect.Scheme, Int(redirect.Port), redirect.DerivePort,
                    redirect.RedirectCode is null or 0 ? null : Int(redirect.RedirectCode))
                : null,
            DirectResponse = route.DirectResponse is { } response
                ? new HttpDirectResponse(Int(response.Status) ?? 200, response.Body?.String,
                    response.Body?.Bytes is { } bytes ? Convert.FromBase64String(bytes) : null)
                : null,
            CorsPolicy = route.CorsPolicy is { } cors ? CorsPolicyOf(cors) : null,
            Mirrors = MirrorsOf(route, $"spec.http[{index}]"),
        };
    }

    // route.go TranslateFault: percentage.value wins; a delay without it uses the deprecated integer percent (per
    // HUNDRED); an abort without percentage has none, which Envoy reads as 0%. A delay without fixedDelay or an abort
    // without httpStatus is refused (RefusedFields), so it has no fault here.
    private static FaultDelay? DelayOf(Api.HTTPFaultInjectionDelay? delay) =>
        Duration(delay?.FixedDelay) is { } fixedDelay
            ? new FaultDelay(fixedDelay, delay!.Percentage is { } p ? p.Value ?? 0 : delay.Percent) { IntegerPercent = delay.Percentage is null && delay.Percent is not null }
            : null;

    private static FaultAbort? AbortOf(Api.HTTPFaultInjectionAbort? abort) =>
        abort?.HttpStatus is { } status ? new FaultAbort(status, abort.Percentage is { } p ? p.Value ?? 0 : null) : null;

    private static HttpMatch MatchOf(Api.HTTPMatchRequest match) =>
        new(StringMatchOf(match.Uri), StringMatchOf(match.Scheme), StringMatchOf(match.Method), StringMatchOf(match.Authority),
            StringMatchesOf(match.Headers), StringMatchesOf(match.WithoutHeaders), StringMatchesOf(match.QueryParams),
            Int(match.Port), match.Gateways ?? [], match.IgnoreUriCase ?? false)
        {
            Name = match.Name,
            SourceLabels = Labels(match.SourceLabels),
            SourceNamespace = match.SourceNamespace,
        };

    // Header and query parameter matches by lower-cased name; a JWT claim key is refused (RefusedFields.JwtClaimMatch).
    private static List<KeyValuePair<string, StringMatch>> StringMatchesOf(IReadOnlyDictionary<string, Api.StringMatch?>? matches) =>
        [.. (matches ?? new Dictionary<string, Api.StringMatch?>())
            .Where(kv => kv.Value is not null && !kv.Key.StartsWith("@request.auth.claims", StringComparison.Ordinal))
            .Select(kv => (Name: kv.Key.ToLowerInvariant(), Match: StringMatchOf(kv.Value, allowPresence: true)))
            .Where(m => m.Match is not null)
            .Select(m => new KeyValuePair<string, StringMatch>(m.Name, m.Match!))];

    private static StringMatch? StringMatchOf(Api.StringMatch? match, bool allowPresence = false)
    {
        if (match is null)
        {
            return allowPresence ? new StringMatch(StringMatchKind.Regex, "*", null) : null;
        }
        if (match.Exact is { } exact)
        {
            return new StringMatch(StringMatchKind.Exact, exact, null);
        }
        if (match.Prefix is { } prefix)
        {
            return new StringMatch(StringMatchKind.Prefix, prefix, null);
        }
        if (match.Regex is not { } regex)
        {
            // route.go canBeConvertedToPresentMatch: a header or query match without a value is a presence match.
            return allowPresence ? new StringMatch(StringMatchKind.Regex, "*", null) : null;
        }
        // Istio turns regex "*" on a header or query parameter into Envoy's present_match (istio/istio#20629).
        return allowPresence && regex == "*" ? new StringMatch(StringMatchKind.Regex, regex, null)
            : RegexCache.Compile(regex, out _) is { } compiled ? new StringMatch(StringMatchKind.Regex, regex, compiled) : null;
    }

    private static List<RouteDestination> RouteDestinationsOf(IReadOnlyList<Api.HTTPRouteDestination>? destinations, string path) =>
        [.. (destinations ?? []).Select((d, i) => new RouteDestination(DestinationOf(d.Destination), d.Weight, HeadersOf(d.Headers), $"{path}[{i}]"))];

    private static Destination DestinationOf(Api.Destination? destination) =>
        new(destination?.Host ?? "", destination?.Subset, Int(destination?.Port?.Number));

    private static Headers? HeadersOf(Api.Headers? headers) => headers is null ? null
        : new Headers(HeaderOperationsOf(headers.Request), HeaderOperationsOf(headers.Response));

    private static HeaderOperations? HeaderOperationsOf(Api.HeaderOperations? operations) => operations is null ? null
        : new HeaderOperations([.. operations.Set ?? new Dictionary<string, string>()], [.. operations.Add ?? new Dictionary<string, string>()],
            operations.Remove ?? []);

    private static CorsPolicy CorsPolicyOf(Api.CorsPolicy cors) => new(
        [.. (cors.AllowOrigins ?? []).Select(o => StringMatchOf(o)).OfType<StringMatch>(),
            .. (cors.AllowOrigin ?? []).Select(o => new StringMatch(StringMatchKind.Exact, o, null))],
        cors.AllowMethods ?? [], cors.AllowHeaders ?? [], cors.ExposeHeaders ?? [], Duration(cors.MaxAge), cors.AllowCredentials,
        cors.UnmatchedPreflights);

    // route.go: mirror with mirrorPercentage (default 100; the deprecated integer mirrorPercent and mirror_percent
    // when it is unset), or mirrors, each with its own percentage.
    private static List<HttpMirror> MirrorsOf(Api.HTTPRoute route, string field)
    {
        var legacy = Int(route.MirrorPercent ?? route.MirrorPercentSnakeCase);
        var mirrors = route.Mirror is { } mirror ? new List<HttpMirror> { new(DestinationOf(mirror), route.MirrorPercentage?.Value ?? legacy) { Field = $"{field}.mirror" } } : [];
        mirrors.AddRange((route.Mirrors ?? []).Select((m, i) => new HttpMirror(DestinationOf(m.Destination), m.Percentage?.Value) { Field = $"{field}.mirrors[{i}].destination" }));
        return mirrors;
    }
}
