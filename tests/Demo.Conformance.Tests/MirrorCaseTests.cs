using static Demo.Conformance.Tests.MeshYaml;

namespace Demo.Conformance.Tests;

/// <summary>
/// VirtualService <c>mirror</c>/<c>mirrors</c>: istiod (route.go TranslateRequestMirrorPolicy) writes Envoy's
/// request_mirror_policies; Envoy's router sends a copy of each request to the mirror cluster with <c>-shadow</c> added
/// to its Host and drops the answer; a mirror of 0% is left out.
/// </summary>
public sealed class MirrorCaseTests
{
    private static string Route(string mirror) => VirtualService("mirrored", B, $"""
          - route:
              - destination:
                  host: {B}
        {mirror}
        """);

    private static async Task<EchoRequest?> MirroredAsync(ConformanceMesh mesh, string host)
    {
        for (var deadline = DateTime.UtcNow.AddSeconds(5); DateTime.UtcNow < deadline; await Task.Delay(20))
        {
            if (mesh.Echo(host).Received.TryPeek(out var received))
            {
                return received;
            }
        }
        return null;
    }

    [Fact]
    public async Task AMirrorGetsACopyWithAShadowHostAndTheCallerTheRoutesAnswer()
    {
        await using var mesh = await ConformanceMesh.StartAsync(Base(Route($"""
                mirror:
                  host: {C}
            """)), new External(B), new External(C));

        var reply = await mesh.GetAsync($"http://{B}/path?q=1", ("x-trace", "t1"));

        Assert.Equal(200, reply.Status);
        Assert.Equal("b", reply.Received.Hostname);
        var copy = await MirroredAsync(mesh, C);
        Assert.NotNull(copy);
        Assert.Equal($"{B}-shadow", copy.Host);
        Assert.Equal("/path?q=1", copy.Url);
        Assert.Equal(["t1"], copy.Header("x-trace"));
    }

    [Fact]
    public async Task MirrorsEachGetACopyAndAZeroPercentMirrorNone()
    {
        await using var mesh = await ConformanceMesh.StartAsync(Base(Route($"""
                mirrors:
                  - destination:
                      host: {C}
                  - destination:
                      host: {D}
                    percentage:
                      value: 0
            """)), new External(B), new External(C), new External(D));

        Assert.Equal(200, (await mesh.GetAsync($"http://{B}/")).Status);

        Assert.NotNull(await MirroredAsync(mesh, C));
        Assert.Equal(0, mesh.Echo(D).Count);
        var policies = mesh.DumpedRouteConfig("sidecar", "80").GetProperty("virtual_hosts").EnumerateArray()
            .SelectMany(v => v.GetProperty("routes").EnumerateArray())
            .Where(r => r.TryGetProperty("route", out var action) && action.TryGetProperty("request_mirror_policies", out _))
            .SelectMany(r => r.GetProperty("route").GetProperty("request_mirror_policies").EnumerateArray())
            .Select(p => p.GetProperty("cluster").GetString())
            .ToList();
        Assert.Equal([$"outbound|80||{C}"], policies);
    }

    // virtualservice.go validateHTTPRoute.
    [Fact]
    public async Task MirrorAndMirrorsTogetherAreRefusedAsIstioRefusesThem()
    {
        var refusal = await ConformanceMesh.RefusalAsync(Base(Route($"""
                mirror:
                  host: {C}
                mirrors:
                  - destination:
                      host: {D}
            """)));

        Assert.Contains("HTTP route cannot contain both mirror and mirrors", refusal, StringComparison.Ordinal);
    }
}
