using Demo.EgressGateway.Tests;
using static Demo.Conformance.Tests.MeshYaml;

namespace Demo.Conformance.Tests;

/// <summary>
/// Istio's <c>virtualServiceCases</c> (tests/integration/pilot/common/routing.go): each case's VirtualService,
/// applied to the caller's sidecar (no <c>gateways</c>: <c>mesh</c>), with the request the case sends and the
/// outcome it checks. The Istio case name is cited on each test; docs/conformance.md maps every case.
/// </summary>
public sealed class VirtualServiceCaseTests(ITestOutputHelper output)
{
    private const string Url = "http://b.external";

    private static string RouteToB(string routeExtras = "", string destinationExtras = "") => $"""
        apiVersion: networking.istio.io/v1
        kind: VirtualService
        metadata:
          name: default
        spec:
          hosts:
            - {B}
          http:
            - route:
                - destination:
                    host: {B}
        {destinationExtras}
        {routeExtras}
        """;

    private static Task<ConformanceMesh> StartAsync(string virtualService) =>
        ConformanceMesh.StartAsync(Base(virtualService), new External(B), new External(C), new External(D));

    // Istio case "added header".
    [Fact]
    public async Task RouteHeadersAddReachesTheUpstream()
    {
        await using var mesh = await StartAsync(RouteToB(routeExtras: """
                  headers:
                    request:
                      add:
                        istio-custom-header: user-defined-value
            """));

        var reply = await mesh.GetAsync(Url);

        Assert.Equal(200, reply.Status);
        Assert.Equal(["user-defined-value"], reply.Received.Header("Istio-Custom-Header"));
    }

    // Istio case "set header".
    [Fact]
    public async Task RouteHeadersSetReachesTheUpstream()
    {
        await using var mesh = await StartAsync(RouteToB(routeExtras: """
                  headers:
                    request:
                      set:
                        x-custom: some-value
            """));

        var reply = await mesh.GetAsync(Url, ("x-custom", "client-value"));

        Assert.Equal(200, reply.Status);
        Assert.Equal(["some-value"], reply.Received.Header("X-Custom"));
    }

    // Istio case "set authority header": route-level set of :authority becomes Envoy's host_rewrite_literal.
    [Fact]
    public async Task RouteHeadersSetAuthorityRewritesHost()
    {
        await using var mesh = await StartAsync(RouteToB(routeExtras: """
                  headers:
                    request:
                      set:
                        :authority: my-custom-authority
            """));

        var reply = await mesh.GetAsync(Url);

        Assert.Equal(200, reply.Status);
        Assert.Equal("my-custom-authority", reply.Received.Host);
    }

    // Istio case "set host header in destination".
    [Fact]
    public async Task DestinationHeadersSetHostRewritesHost()
    {
        await using var mesh = await StartAsync(RouteToB(destinationExtras: """
                      headers:
                        request:
                          set:
                            Host: my-custom-authority
            """));

        var reply = await mesh.GetAsync(Url);

        Assert.Equal(200, reply.Status);
        Assert.Equal("my-custom-authority", reply.Received.Host);
    }

    // Istio case "set authority header in destination".
    [Fact]
    public async Task DestinationHeadersSetAuthorityRewritesHost()
    {
        await using var mesh = await StartAsync(RouteToB(destinationExtras: """
                      headers:
                        request:
                          set:
                            :authority: my-custom-authority
            """));

        var reply = await mesh.GetAsync(Url);

        Assert.Equal(200, reply.Status);
        Assert.Equal("my-custom-authority", reply.Received.Host);
    }

    // Istio case "set host header in route and destination": the route's :authority wins over the destination's Host
    // (pilot/pkg/networking/core/route/route.go: a destination's authority only applies when the route set none).
    [Fact]
    public async Task RouteAuthorityBeatsDestinationHost()
    {
        await using var mesh = await StartAsync(RouteToB(
            destinationExtras: """
                      headers:
                        request:
                          set:
                            Host: dest-authority
            """,
            routeExtras: """
                  headers:
                    request:
                      set:
                        :authority: route-authority
            """));

        var reply = await mesh.GetAsync(Url);

        Assert.Equal(200, reply.Status);
        Assert.Equal("route-authority", reply.Received.Host);
    }

    // Istio case "set host header in route and multi destination": with weighted destinations the route's
    // :authority still wins, whichever destination is picked — Istio's check expects "route-authority".
    [Fact]
    public async Task RouteAuthorityBeatsDestinationHostOnWeightedDestinations()
    {
        await using var mesh = await StartAsync($"""
            apiVersion: networking.istio.io/v1
            kind: VirtualService
            metadata:
              name: default
            spec:
              hosts:
                - {B}
              http:
                - route:
                    - destination:
                        host: {B}
                      headers:
                        request:
                          set:
                            Host: dest-authority
                      weight: 50
                    - destination:
                        host: {B}
                      weight: 50
                  headers:
                    request:
                      set:
                        :authority: route-authority
            """);

        var received = await mesh.GetOkAsync(Url, 20);

        Assert.All(received, r => Assert.Equal("route-authority", r.Host));
    }

    // Variant of "set host header in route and multi destination" with rewrite.authority, the other route-level Host:
    // route.go translateRoute puts rewrite.authority in the route action's host_rewrite_literal, the same field a
    // route-level headers Host goes to (which that Istio case shows beating the weighted clusters' own
    // host_rewrite_literal) — so every request carries the rewrite's Host, whichever destination (b or c, each setting
    // its own Host) was picked. Istio's validation (virtualservice.go validateAuthorityRewrite) allows one route-level
    // Host only, so rewrite.authority stands alone at the route level here.
    [Fact]
    public async Task RouteRewriteAuthorityBeatsEachDestinationHostOnWeightedDestinations()
    {
        await using var mesh = await StartAsync($"""
            apiVersion: networking.istio.io/v1
            kind: VirtualService
            metadata:
              name: default
            spec:
              hosts:
                - {B}
              http:
                - route:
                    - destination:
                        host: {B}
                      headers:
                        request:
                          set:
                            Host: b-authority
                      weight: 50
                    - destination:
                        host: {C}
                      headers:
                        request:
                          set:
                            Host: c-authority
                      weight: 50
                  rewrite:
                    authority: rewrite-authority
            """);

        var received = await mesh.GetOkAsync(Url, 20);

        Assert.All(received, r => Assert.Equal("rewrite-authority", r.Host));
        // Both weighted destinations were picked (20 calls at 50/50 miss one with probability 2⁻¹⁹).
        Assert.Equal(["b", "c"], received.Select(r => r.Hostname).Distinct().Order());
    }

    // Istio case "set host header multi destination".
    [Fact]
    public async Task DestinationHostOnEveryWeightedDestinationRewritesHost()
    {
        await using var mesh = await StartAsync($"""
            apiVersion: networking.istio.io/v1
            kind: VirtualService
            metadata:
              name: default
            spec:
              hosts:
                - {B}
              http:
                - route:
                    - destination:
                        host: {B}
                      headers:
                        request:
                          set:
                            Host: dest-authority
                      weight: 50
                    - destination:
                        host: {B}
                      headers:
                        request:
                          set:
                            Host: dest-authority
                      weight: 50
            """);

        for (var i = 0; i < 10; i++)
        {
            var reply = await mesh.GetAsync(Url);
            Assert.Equal(200, reply.Status);
            Assert.Equal("dest-authority", reply.Received.Host);
        }
    }

    // Istio case "weird header matches" (children "no match", "match"): a header name using every token character.
    [Fact]
    public async Task HeaderMatchOnNameWithEveryTokenCharacter()
    {
        const string absurd = "a!#$%&'*+-.^_`|~z";
        await using var mesh = await StartAsync($"""
            apiVersion: networking.istio.io/v1
            kind: VirtualService
            metadata:
              name: default
            spec:
              hosts:
                - {B}
              http:
                - match:
                    - headers:
                        "{absurd}":
                          exact: why
                  route:
                    - destination:
                        host: {B}
            """);

        Assert.Equal(404, (await mesh.GetAsync(Url)).Status);
        Assert.Equal(200, (await mesh.GetAsync(Url, (absurd, "why"))).Status);
    }

    // Istio case "pseudo header matches" (children "no match", "match"): a header match on :method.
    [Fact]
    public async Task HeaderMatchOnMethodPseudoHeader()
    {
        await using var mesh = await StartAsync($"""
            apiVersion: networking.istio.io/v1
            kind: VirtualService
            metadata:
              name: default
            spec:
              hosts:
                - {B}
              http:
                - match:
                    - headers:
                        ":method":
                          exact: GET
                  route:
                    - destination:
                        host: {B}
            """);

        Assert.Equal(404, (await mesh.SendAsync(Url, r => r.Method = HttpMethod.Post)).Status);
        Assert.Equal(200, (await mesh.SendAsync(Url, r => r.Method = HttpMethod.Get)).Status);
    }

    // Istio case "rewrite uri": an exact match's whole path is replaced, the query string kept.
    [Fact]
    public async Task RewriteUriReplacesExactPathAndKeepsQuery()
    {
        await using var mesh = await StartAsync($"""
            apiVersion: networking.istio.io/v1
            kind: VirtualService
            metadata:
              name: default
            spec:
              hosts:
                - {B}
              http:
                - match:
                    - uri:
                        exact: /foo
                  rewrite:
                    uri: /new/path
                  route:
                    - destination:
                        host: {B}
            """);

        var reply = await mesh.GetAsync(Url + "/foo?key=value#hash");

        Assert.Equal(200, reply.Status);
        Assert.Equal("/new/path?key=value", reply.Received.Url);
    }

    // Istio case "rewrite authority".
    [Fact]
    public async Task RewriteAuthorityRewritesHost()
    {
        await using var mesh = await StartAsync($"""
            apiVersion: networking.istio.io/v1
            kind: VirtualService
            metadata:
              name: default
            spec:
              hosts:
                - {B}
              http:
                - match:
                    - uri:
                        exact: /foo
                  rewrite:
                    authority: new-authority
                  route:
                    - destination:
                        host: {B}
            """);

        var reply = await mesh.GetAsync(Url + "/foo");

        Assert.Equal(200, reply.Status);
        Assert.Equal("new-authority", reply.Received.Host);
    }

    // Istio case "retry conditions": the configuration is accepted and traffic flows (Istio checks only that).
    [Fact]
    public async Task RetryConditionsConfigurationServesTraffic()
    {
        await using var mesh = await StartAsync(RouteToB(routeExtras: """
                  retries:
                    attempts: 3
                    perTryTimeout: 2s
                    retryOn: gateway-error,connect-failure,refused-stream,reset-before-request
                    retryRemoteLocalities: true
            """));

        var reply = await mesh.GetAsync(Url);

        Assert.Equal(200, reply.Status);
        Assert.Equal(1, mesh.Echo(B).Count);
    }

    // Istio case "fault abort".
    [Fact]
    public async Task FaultAbortAnswersWithItsStatus()
    {
        await using var mesh = await StartAsync(RouteToB(routeExtras: """
                  fault:
                    abort:
                      percentage:
                        value: 100
                      httpStatus: 418
            """));

        var reply = await mesh.GetAsync(Url);

        Assert.Equal(418, reply.Status);
        Assert.Equal(0, mesh.Echo(B).Count);
    }

    // Istio case "catch all route short circuit the other routes": routes are tried in order; a regex .* matches all.
    [Fact]
    public async Task CatchAllRegexRouteShortCircuitsLaterRoutes()
    {
        await using var mesh = await StartAsync($"""
            apiVersion: networking.istio.io/v1
            kind: VirtualService
            metadata:
              name: default
            spec:
              hosts:
                - {B}
              http:
                - match:
                    - uri:
                        regex: .*
                  route:
                    - destination:
                        host: {B}
                  fault:
                    abort:
                      percentage:
                        value: 100
                      httpStatus: 418
                - route:
                    - destination:
                        host: {B}
            """);

        Assert.Equal(418, (await mesh.GetAsync(Url)).Status);
        Assert.Equal(418, (await mesh.GetAsync(Url + "/any/path?x=1")).Status);
    }

    // Istio cases "shifting-50" (50/25/25) and "shifting-80" (80/10/10): traffic follows the weights. Istio sends
    // 100 calls and allows ±10 per host; here one sample of 1000 calls and one chi-square test of the joint split at
    // ChiSquare.Alpha (α = 0.000001, critical value 27.631 for 2 degrees of freedom), the statistic in the test output.
    [Theory]
    [InlineData(50, 25, 25)]
    [InlineData(80, 10, 10)]
    public async Task WeightedDestinationsSplitTrafficByWeight(int b, int c, int d)
    {
        await using var mesh = await StartAsync($"""
            apiVersion: networking.istio.io/v1
            kind: VirtualService
            metadata:
              name: default
            spec:
              hosts:
                - {B}
              http:
                - route:
                    - destination:
                        host: {B}
                      weight: {b}
                    - destination:
                        host: {C}
                      weight: {c}
                    - destination:
                        host: {D}
                      weight: {d}
            """);

        const int calls = 1000;
        var counts = new Dictionary<string, int> { ["b"] = 0, ["c"] = 0, ["d"] = 0 };
        for (var i = 0; i < calls; i++)
        {
            var reply = await mesh.GetAsync(Url);
            Assert.Equal(200, reply.Status);
            counts[reply.Received.Hostname]++;
        }

        ChiSquare.AssertFits(output, $"split b/c/d of {calls} calls, weights {b}/{c}/{d}",
            ("b", counts["b"], b), ("c", counts["c"], c), ("d", counts["d"], d));
    }

    private static string WithoutHeadersAbort(string matcher) => $"""
        apiVersion: networking.istio.io/v1
        kind: VirtualService
        metadata:
          name: vs
        spec:
          hosts:
            - {B}
          http:
            - match:
                - withoutHeaders:
                    end-user:
                      {matcher}
              route:
                - destination:
                    host: {B}
              fault:
                abort:
                  percentage:
                    value: 100
                  httpStatus: 403
            - route:
                - destination:
                    host: {B}
        """;

    // Istio case "without headers" (children "end-user is jason", "end-user is not jason", "do not have end-user
    // header"): Istio sets treat_missing_header_as_empty on withoutHeaders, so an absent header is "" and does not
    // equal "jason" — the inverted match applies (route.go TranslateRouteMatch).
    [Fact]
    public async Task WithoutHeadersExactTreatsMissingHeaderAsEmpty()
    {
        await using var mesh = await StartAsync(WithoutHeadersAbort("exact: jason"));

        Assert.Equal(200, (await mesh.GetAsync(Url + "/foo", ("end-user", "jason"))).Status);
        Assert.Equal(403, (await mesh.GetAsync(Url + "/foo", ("end-user", "not-jason"))).Status);
        Assert.Equal(403, (await mesh.GetAsync(Url + "/foo")).Status);
    }

    // Istio case "without headers regex convert to present_match" (children "have end-user header and value", "have
    // end-user header but value is empty", "do not have end-user header"): regex "*" is not RE2 — Istio turns it into
    // present_match (route.go canBeConvertedToPresentMatch), so only a request without the header is matched.
    [Fact]
    public async Task WithoutHeadersRegexStarIsAPresenceMatch()
    {
        await using var mesh = await StartAsync(WithoutHeadersAbort("regex: \"*\""));

        Assert.Equal(200, (await mesh.GetAsync(Url + "/foo", ("end-user", "jason"))).Status);
        Assert.Equal(200, (await mesh.GetAsync(Url + "/foo", ("end-user", ""))).Status);
        Assert.Equal(403, (await mesh.GetAsync(Url + "/foo")).Status);
    }

    // Istio case "without headers regex match any string" (children as above): .* matches any value, including the
    // empty value a missing header is treated as, so the inverted match never applies.
    [Fact]
    public async Task WithoutHeadersRegexDotStarNeverMatches()
    {
        await using var mesh = await StartAsync(WithoutHeadersAbort("regex: .*"));

        Assert.Equal(200, (await mesh.GetAsync(Url + "/foo", ("end-user", "jason"))).Status);
        Assert.Equal(200, (await mesh.GetAsync(Url + "/foo", ("end-user", ""))).Status);
        Assert.Equal(200, (await mesh.GetAsync(Url + "/foo")).Status);
    }

    private static string DestinationRuleForB(string trafficPolicy) => $"""
        apiVersion: networking.istio.io/v1
        kind: DestinationRule
        metadata:
          name: b
        spec:
          host: {B}
          trafficPolicy:
        {trafficPolicy}
        """;

    // Istio destinationRuleCases "only idletimeout specified in DR": a DestinationRule with only
    // connectionPool.http.idleTimeout (and tls DISABLE) is accepted and traffic flows.
    [Fact]
    public async Task IdleTimeoutOnlyDestinationRuleServesTraffic()
    {
        await using var mesh = await StartAsync(Join(RouteToB(), DestinationRuleForB("""
                tls:
                  mode: DISABLE
                connectionPool:
                  http:
                    idleTimeout: 100s
            """)));

        Assert.Equal(200, (await mesh.GetAsync(Url)).Status);
    }

    // Istio useClientProtocolCases "use client protocol with h1": with useClientProtocol the upstream request uses
    // the caller's protocol — HTTP/1.1 here.
    [Fact]
    public async Task UseClientProtocolWithHttp11CallerKeepsHttp11()
    {
        await using var mesh = await StartAsync(Join(RouteToB(), DestinationRuleForB("""
                tls:
                  mode: DISABLE
                connectionPool:
                  http:
                    useClientProtocol: true
            """)));

        var reply = await mesh.GetAsync(Url);

        Assert.Equal(200, reply.Status);
        Assert.Equal("HTTP/1.1", reply.Received.Protocol);
    }
}
