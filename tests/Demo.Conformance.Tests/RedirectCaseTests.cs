using static Demo.Conformance.Tests.MeshYaml;

namespace Demo.Conformance.Tests;

/// <summary>
/// Istio's redirect cases (tests/integration/pilot/common/routing.go virtualServiceCases: "redirect", "redirect port
/// and scheme", "redirect request port" with its children; "redirect prefix_rewrite" is refused, RefusedFeatureTests)
/// and a direct response. istiod
/// (route.go ApplyRedirect) writes Envoy's RedirectAction — FROM_REQUEST_PORT is the listener's port, left out when it
/// is the scheme's default — and Envoy's router answers 301 with the Location of Http::Utility::newUri: the request's
/// scheme and Host (its port dropped when the redirect sets one), the redirect's path with the request's query.
/// Locally the Host names the destination port, so the cases that call port 85 with a Host of "b" alone (child
/// "non-default") cannot be sent; its twin with "b:85" can.
/// </summary>
public sealed class RedirectCaseTests
{
    private static Task<ConformanceMesh> StartAsync(string routes) =>
        ConformanceMesh.StartAsync(Join(ServiceEntry(B, (80, "HTTP"), (85, "HTTP")), VirtualService("default", B, routes)), new External(B));

    private static string? Location(Reply reply) => reply.Headers["location"];

    // "redirect": uri /new/path, followed: the second request keeps the query and reaches the destination.
    [Fact]
    public async Task RedirectUriKeepsTheQueryAndTheFollowedRequestReachesTheNewPath()
    {
        await using var mesh = await StartAsync("""
              - match:
                  - uri:
                      exact: /foo
                redirect:
                  uri: /new/path
              - match:
                  - uri:
                      exact: /new/path
                route:
                  - destination:
                      host: b.external
            """);

        var redirect = await mesh.GetAsync($"http://{B}/foo?key=value");
        Assert.Equal(301, redirect.Status);
        Assert.Equal($"http://{B}/new/path?key=value", Location(redirect));
        Assert.Contains(" 301 - attempts=0 route=", mesh.LastAccessLog("sidecar").Line, StringComparison.Ordinal);
        Assert.Contains(" details=direct_response ", mesh.LastAccessLog("sidecar").Line, StringComparison.Ordinal);

        var followed = await mesh.GetAsync(Location(redirect)!);
        Assert.Equal(200, followed.Status);
        Assert.Equal("/new/path?key=value", followed.Received.Url);
    }

    // "redirect port and scheme": derivePort FROM_REQUEST_PORT with scheme https — 80 is not https's default, so it stays.
    [Fact]
    public async Task RedirectPortAndSchemeKeepsPort80ForHttps()
    {
        await using var mesh = await StartAsync("""
              - match:
                  - uri:
                      exact: /foo
                redirect:
                  derivePort: FROM_REQUEST_PORT
                  scheme: https
            """);

        var reply = await mesh.GetAsync($"http://{B}/foo");

        Assert.Equal(301, reply.Status);
        Assert.Equal($"https://{B}:80/foo", Location(reply));
    }

    // "redirect request port": children "to default" (Host b: no :80 added), "to default with host port" (b:80 kept),
    // "non-default with host port" (b:85).
    [Theory]
    [InlineData("", "http://b.external/foo")]
    [InlineData(":80", "http://b.external:80/foo")]
    [InlineData(":85", "http://b.external:85/foo")]
    public async Task RedirectRequestPortAddsOnlyANonDefaultPort(string hostPort, string location)
    {
        await using var mesh = await StartAsync("""
              - match:
                  - uri:
                      exact: /foo
                redirect:
                  derivePort: FROM_REQUEST_PORT
            """);

        // The Host exactly as the case sends it (a URI would drop the default :80).
        var reply = await mesh.SendAsync($"http://{B}{hostPort}/foo", request => request.Headers.Host = B + hostPort);

        Assert.Equal(301, reply.Status);
        Assert.Equal(location, Location(reply));
    }

    // route.go ApplyDirectResponse: the route answers with its status and body; nothing reaches the destination.
    [Fact]
    public async Task DirectResponseAnswersWithItsStatusAndBody()
    {
        await using var mesh = await StartAsync("""
              - match:
                  - uri:
                      prefix: /maintenance
                directResponse:
                  status: 503
                  body:
                    string: "down for maintenance"
            """);

        var reply = await mesh.GetAsync($"http://{B}/maintenance");

        Assert.Equal(503, reply.Status);
        Assert.Equal("down for maintenance", reply.Body);
        Assert.Equal(0, mesh.Echo(B).Count);
        Assert.Contains(" 503 - attempts=0 ", mesh.LastAccessLog("sidecar").Line, StringComparison.Ordinal);
    }

    // utility.cc newUri: a redirect path without its leading slash gets one; route.go ApplyRedirect: port 0 is no port.
    [Fact]
    public async Task RedirectUriWithoutASlashGetsOneAndPortZeroIsNone()
    {
        await using var mesh = await StartAsync("""
              - match:
                  - uri:
                      exact: /foo
                redirect:
                  uri: new/path
                  port: 0
            """);

        var reply = await mesh.GetAsync($"http://{B}/foo?k=v");

        Assert.Equal(301, reply.Status);
        Assert.Equal($"http://{B}/new/path?k=v", Location(reply));
    }

    // router.cc decodeHeaders: a direct response of 201 or 3xx carries a Location built from the request (newUri).
    [Fact]
    public async Task DirectResponseWithA3xxStatusCarriesTheRequestsLocation()
    {
        await using var mesh = await StartAsync("""
              - match:
                  - uri:
                      prefix: /moved
                directResponse:
                  status: 301
            """);

        var reply = await mesh.GetAsync($"http://{B}/moved?x=1");

        Assert.Equal(301, reply.Status);
        Assert.Equal($"http://{B}/moved?x=1", Location(reply));
    }

    // route.go ApplyDirectResponse: body.bytes is Envoy's inline_bytes, sent as they are.
    [Fact]
    public async Task DirectResponseBytesAreSentAsTheyAre()
    {
        await using var mesh = await StartAsync("""
              - directResponse:
                  status: 200
                  body:
                    bytes: "/wAB"
            """);

        using var response = await mesh.Client.GetAsync(new Uri($"http://{B}/"));

        Assert.Equal([0xFF, 0x00, 0x01], await response.Content.ReadAsByteArrayAsync());
    }

    // gateway.go buildGatewayHTTPRouteConfig: a route on a TLS server is IsTLS, so FROM_REQUEST_PORT's 443 is the
    // https default and route.go ApplyRedirect writes no port.
    [Fact]
    public void ARedirectOnAGatewayTlsServerDropsPort443()
    {
        var config = Demo.EgressGateway.Istio.IstioConfigLoader.Parse("tls.yaml", Join(ServiceEntry(B, (443, "HTTPS")),
            EgressGatewayResource("istio-egressgateway", B), $"""
            apiVersion: networking.istio.io/v1
            kind: VirtualService
            metadata:
              name: moved
            spec:
              hosts: [{B}]
              gateways: [istio-egressgateway]
              http:
                - redirect:
                    derivePort: FROM_REQUEST_PORT
                    scheme: https
            """));
        Assert.False(config.HasErrors, string.Join('\n', config.Diagnostics));

        var gateway = Demo.EgressGateway.Envoy.IstioTranslator.Translate(config, new Demo.EgressGateway.Istio.MeshEnvironment()).Gateway;

        var redirect = gateway.RouteConfigs.SelectMany(r => r.VirtualHosts).SelectMany(v => v.Routes).Single(r => r.Redirect is not null).Redirect!;
        // port_redirect unset (proto3's 0): the Location keeps no port.
        Assert.Null(redirect.PortRedirect);
        Assert.Equal("https", redirect.SchemeRedirect);
    }

    // validation.go validateHTTPRedirect / virtualservice.go validateHTTPRoute, as Istio words them.
    [Theory]
    [InlineData("redirect:\n      uri: /a\n    route:\n      - destination:\n          host: b.external", "HTTP route cannot contain both route and redirect")]
    [InlineData("redirect:\n      redirectCode: 200", "200 is not a valid redirect code, must be 3xx")]
    [InlineData("redirect:\n      scheme: ftp", "invalid redirect scheme, must be \"http\" or \"https\"")]
    [InlineData("redirect: {}", "redirect must specify URI, authority, scheme, or port")]
    [InlineData("directResponse:\n      status: 700", "HTTP status 700 is not in range 200-599")]
    [InlineData("corsPolicy:\n      allowMethods: [FETCH]\n    route:\n      - destination:\n          host: b.external", "corsPolicy.allowMethods: 'FETCH' is not a supported HTTP method")]
    [InlineData("corsPolicy:\n      maxAge: 1500ms\n    route:\n      - destination:\n          host: b.external", "max_age duration is accurate only to seconds precision")]
    [InlineData("mirror:\n      host: c.external\n    mirrorPercentage:\n      value: 150\n    route:\n      - destination:\n          host: b.external", "mirrorPercentage.value")]
    public async Task InvalidRedirectsAndDirectResponsesAreRefusedAsIstioRefusesThem(string route, string message)
    {
        var yaml = Join(ServiceEntry(B), $"""
            apiVersion: networking.istio.io/v1
            kind: VirtualService
            metadata:
              name: bad
            spec:
              hosts: [{B}]
              http:
                - {route.Replace("\n", "\n  ", StringComparison.Ordinal)}
            """);

        var refusal = await ConformanceMesh.RefusalAsync(yaml);

        Assert.Contains(message, refusal, StringComparison.Ordinal);
    }
}
