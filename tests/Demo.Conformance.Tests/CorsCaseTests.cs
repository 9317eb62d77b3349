using static Demo.Conformance.Tests.MeshYaml;

namespace Demo.Conformance.Tests;

/// <summary>
/// Istio's "cors" case (tests/integration/pilot/common/routing.go virtualServiceCases) and its children "preflight",
/// "get", "get no origin match": istiod (route.go translateCORSPolicy) writes the route's CORS policy for Envoy's CORS
/// filter (cors_filter.cc), which answers a preflight from an allowed origin itself and adds
/// access-control-allow-origin to the responses of the other CORS requests.
/// </summary>
public sealed class CorsCaseTests
{
    private static readonly string Yaml = Join(ServiceEntry(B), VirtualService("default", B, $"""
          - corsPolicy:
              allowOrigins:
              - exact: cors.com
              allowMethods:
              - POST
              - GET
              allowCredentials: false
              allowHeaders:
              - X-Foo-Bar
              - X-Foo-Baz
              maxAge: "24h"
            route:
            - destination:
                host: {B}
        """));

    // "preflight": OPTIONS from cors.com asking for DELETE → 200 from the filter with the policy's headers.
    [Fact]
    public async Task PreflightFromAnAllowedOriginIsAnsweredByTheFilter()
    {
        await using var mesh = await ConformanceMesh.StartAsync(Yaml, new External(B));

        var reply = await mesh.SendAsync($"http://{B}/", request =>
        {
            request.Method = HttpMethod.Options;
            request.Headers.Add("Origin", "cors.com");
            request.Headers.Add("Access-Control-Request-Method", "DELETE");
        });

        Assert.Equal(200, reply.Status);
        Assert.Equal("cors.com", reply.Headers["access-control-allow-origin"]);
        Assert.Equal("POST,GET", reply.Headers["access-control-allow-methods"]);
        Assert.Equal("X-Foo-Bar,X-Foo-Baz", reply.Headers["access-control-allow-headers"]);
        Assert.Equal("86400", reply.Headers["access-control-max-age"]);
        Assert.Equal(0, mesh.Echo(B).Count);
    }

    // "get": a GET from cors.com reaches the destination and its response carries access-control-allow-origin.
    [Fact]
    public async Task GetFromAnAllowedOriginGetsTheAllowOriginHeader()
    {
        await using var mesh = await ConformanceMesh.StartAsync(Yaml, new External(B));

        var reply = await mesh.GetAsync($"http://{B}/", ("Origin", "cors.com"));

        Assert.Equal(200, reply.Status);
        Assert.Equal("cors.com", reply.Headers["access-control-allow-origin"]);
        Assert.Equal(1, mesh.Echo(B).Count);
    }

    // "get no origin match": no Origin — not a CORS request, no CORS header.
    [Fact]
    public async Task GetWithoutOriginGetsNoCorsHeader()
    {
        await using var mesh = await ConformanceMesh.StartAsync(Yaml, new External(B));

        var reply = await mesh.GetAsync($"http://{B}/");

        Assert.Equal(200, reply.Status);
        Assert.Null(reply.Headers["access-control-allow-origin"]);
    }
}
