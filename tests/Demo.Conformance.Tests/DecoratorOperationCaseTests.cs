using static Demo.Conformance.Tests.MeshYaml;

namespace Demo.Conformance.Tests;

/// <summary>
/// The <c>x-envoy-decorator-operation</c> request header the sidecar sends upstream. Envoy's connection manager
/// (conn_manager_impl.cc, <c>ActiveStream::traceRequest</c>) sets it to the route's decorator operation on an
/// OUTBOUND listener (tracing operation Egress), and Istio writes the tracing block that runs it by default (mesh
/// <c>enableTracing: true</c>). istiod's decorator (pilot/pkg/networking/core/route/route.go): for a host without a
/// VirtualService <c>telemetry.TraceOperation</c>, <c>host:port/*</c>; for a VirtualService route
/// <c>GetRouteOperation</c>, <c>host:port</c> of its only destination cluster, else the VirtualService's name and the
/// listener port, followed by the path match (<c>prefix*</c>, the exact path, the regex) or <c>/*</c>. istio.io's
/// egress-control task shows the first: <c>"X-Envoy-Decorator-Operation": "httpbin.org:80/*"</c> in httpbin's echo.
/// </summary>
public sealed class DecoratorOperationCaseTests
{
    private static string VirtualService(string routes) => $"""
        apiVersion: networking.istio.io/v1
        kind: VirtualService
        metadata:
          name: split
        spec:
          hosts:
            - {B}
          http:
        {routes}
        """;

    private static async Task<string[]> DecoratorSeenAsync(string yaml, string url)
    {
        await using var mesh = await ConformanceMesh.StartAsync(Base(yaml), [new External(B), new External(C)]);
        var reply = await mesh.GetAsync(url);
        Assert.Equal(200, reply.Status);
        return reply.Received.Header("x-envoy-decorator-operation");
    }

    [Fact]
    public async Task HostWithoutVirtualServiceSendsHostPortStar()
    {
        var seen = await DecoratorSeenAsync(VirtualService($"""
                - route:
                    - destination:
                        host: {B}
            """), $"http://{C}/headers");

        Assert.Equal([$"{C}:80/*"], seen);
    }

    [Fact]
    public async Task RouteWithOneDestinationSendsItsHostPortAndPrefix()
    {
        var seen = await DecoratorSeenAsync(VirtualService($"""
                - match:
                    - uri:
                        prefix: /api
                  route:
                    - destination:
                        host: {B}
            """), $"http://{B}/api/items");

        Assert.Equal([$"{B}:80/api*"], seen);
    }

    [Fact]
    public async Task RouteWithWeightedDestinationsSendsTheVirtualServiceNameAndListenerPort()
    {
        var seen = await DecoratorSeenAsync(VirtualService($"""
                - route:
                    - destination:
                        host: {B}
                      weight: 50
                    - destination:
                        host: {C}
                      weight: 50
            """), $"http://{B}/");

        Assert.Equal(["split:80/*"], seen);
    }
}
