using static Demo.Conformance.Tests.MeshYaml;

namespace Demo.Conformance.Tests;

/// <summary>
/// The sidecar's outbound traffic policy (meshConfig.outboundTrafficPolicy.mode, or the Sidecar resource's), as
/// istiod's httproute.go BuildCatchAllVirtualHost writes it: ALLOW_ANY — Istio's default — sends a host the registry
/// does not know to the PassthroughCluster (the original destination the app dialled, cluster_builder.go
/// buildDefaultPassthroughCluster: ORIGINAL_DST, CLUSTER_PROVIDED) through the <c>allow_any</c> virtual host; a port
/// with no listener of its own goes the same way (listener.go's PassthroughFilterChain). REGISTRY_ONLY answers
/// <c>block_all</c>'s 502.
/// </summary>
public sealed class OutboundTrafficPolicyTests
{
    private const string Unregistered = "unregistered.example.com";

    private static readonly Dictionary<string, string?> AllowAny = new() { ["EgressGateway:OutboundTrafficPolicy"] = "ALLOW_ANY" };

    private static readonly string Yaml = ServiceEntry("registered.example.com");

    [Fact]
    public async Task AllowAnySendsAnUnregisteredHostToThePassthroughCluster()
    {
        await using var mesh = await ConformanceMesh.StartAsync(Yaml, AllowAny, new External(Unregistered));

        var reply = await mesh.GetAsync($"http://{Unregistered}/anything?x=1");

        Assert.Equal(200, reply.Status);
        Assert.Equal(Unregistered, reply.Received.Host);
        Assert.Equal("/anything?x=1", reply.Received.Url);
        var line = mesh.LastAccessLog("sidecar").Line;
        Assert.Contains(" 200 - attempts=1 route=allow_any cluster=PassthroughCluster ", line, StringComparison.Ordinal);
        var cluster = mesh.DumpedCluster("sidecar", "PassthroughCluster");
        Assert.Equal("ORIGINAL_DST", cluster.GetProperty("type").GetString());
        Assert.Equal("CLUSTER_PROVIDED", cluster.GetProperty("lb_policy").GetString());
    }

    [Fact]
    public async Task AllowAnyPassesAPortWithNoListenerToTheOriginalDestination()
    {
        await using var mesh = await ConformanceMesh.StartAsync(Yaml, AllowAny, new External(Unregistered));

        var reply = await mesh.GetAsync($"http://{Unregistered}:8081/");

        Assert.Equal(200, reply.Status);
        Assert.Equal($"{Unregistered}:8081", reply.Received.Host);
        Assert.Contains(" cluster=PassthroughCluster ", mesh.LastAccessLog("sidecar").Line, StringComparison.Ordinal);
    }

    [Fact]
    public async Task RegistryOnlyAnswersBlockAllsDirect502AndHasNoPassthroughCluster()
    {
        await using var mesh = await ConformanceMesh.StartAsync(Yaml, new External(Unregistered));

        var reply = await mesh.GetAsync($"http://{Unregistered}/");

        Assert.Equal(502, reply.Status);
        Assert.Contains(" 502 - attempts=0 route=block_all cluster=BlackHoleCluster ", mesh.LastAccessLog("sidecar").Line, StringComparison.Ordinal);
        Assert.Equal(0, mesh.Echo(Unregistered).Count);
        Assert.Throws<InvalidOperationException>(() => mesh.DumpedCluster("sidecar", "PassthroughCluster"));
    }
}
