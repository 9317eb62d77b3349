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

    // The original destination an app dials by address: Envoy's ORIGINAL_DST host is that address and port.
    [Fact]
    public async Task AllowAnyPassesAnAddressTheAppDialsThrough()
    {
        await using var mesh = await ConformanceMesh.StartAsync(Yaml, AllowAny, new External(Unregistered));
        var port = mesh.Echo(Unregistered).HttpPort;

        var reply = await mesh.GetAsync($"http://127.0.0.1:{port}/by-address");

        Assert.Equal(200, reply.Status);
        Assert.Equal("/by-address", reply.Received.Url);
        Assert.Contains(" cluster=PassthroughCluster ", mesh.LastAccessLog("sidecar").Line, StringComparison.Ordinal);
    }

    // validation.go validateSidecarEgressHosts (namespace/dnsName) and the mode's enum: refused, naming file and field.
    [Theory]
    [InlineData("egress:\n    - hosts: [example.com]", "spec.egress[0].hosts: 'example.com' must be namespace/dnsName")]
    [InlineData("outboundTrafficPolicy:\n    mode: allow_any", "spec.outboundTrafficPolicy.mode: must be REGISTRY_ONLY or ALLOW_ANY, got 'allow_any'")]
    public async Task ASidecarWithAnInvalidEgressHostOrModeIsRefused(string spec, string message)
    {
        var refusal = await ConformanceMesh.RefusalAsync(Join(Yaml, $"""
            apiVersion: networking.istio.io/v1
            kind: Sidecar
            metadata:
              name: bad
            spec:
              {spec.Replace("\n", "\n  ", StringComparison.Ordinal)}
            """));

        Assert.Contains("Sidecar 'bad': " + message, refusal, StringComparison.Ordinal);
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

/// <summary>
/// Istio's TestExternalService (tests/integration/pilot/common/routing.go): the mesh's outbound traffic policy is
/// ALLOW_ANY, and a Sidecar selecting app <c>a</c> sets REGISTRY_ONLY — app <c>a</c> reaches only the registered
/// external service, app <c>b</c> any host (PASS_THROUGH). push_context.go getSidecarScope picks the Sidecar whose
/// workloadSelector matches the workload; none here matches <c>b</c>, so the mesh's policy applies to it.
/// </summary>
public sealed class ExternalServiceCaseTests
{
    private const string Registered = "registered.example.com";
    private const string Unregistered = "unregistered.example.com";

    private static readonly string Yaml = Join(ServiceEntry(Registered), """
        apiVersion: networking.istio.io/v1
        kind: Sidecar
        metadata:
          name: restrict-external-service
          namespace: demo
        spec:
          workloadSelector:
            labels:
              app: a
          outboundTrafficPolicy:
            mode: "REGISTRY_ONLY"
        """);

    private static Dictionary<string, string?> Workload(string app) => new()
    {
        ["EgressGateway:OutboundTrafficPolicy"] = "ALLOW_ANY",
        ["EgressGateway:WorkloadLabels:app"] = app,
    };

    // TC1/TC2 "traffic from outboundTrafficPolicy REGISTRY_ONLY to allowed host": app a, its Sidecar's REGISTRY_ONLY.
    [Fact]
    public async Task RegistryOnlySidecarReachesTheRegisteredHostAndNotAnUnregisteredOne()
    {
        await using var mesh = await ConformanceMesh.StartAsync(Yaml, Workload("a"), new External(Registered), new External(Unregistered));

        Assert.Equal(200, (await mesh.GetAsync($"http://{Registered}/")).Status);
        Assert.Equal(502, (await mesh.GetAsync($"http://{Unregistered}/")).Status);
        Assert.Contains(" route=block_all cluster=BlackHoleCluster ", mesh.LastAccessLog("sidecar").Line, StringComparison.Ordinal);
    }

    // TC3/TC4 "traffic from outboundTrafficPolicy PASS_THROUGH to any host": app b, no Sidecar selects it: ALLOW_ANY.
    [Fact]
    public async Task WorkloadNoSidecarSelectsPassesAnyHostThroughUnderTheMeshsAllowAny()
    {
        await using var mesh = await ConformanceMesh.StartAsync(Yaml, Workload("b"), new External(Registered), new External(Unregistered));

        Assert.Equal(200, (await mesh.GetAsync($"http://{Unregistered}/")).Status);
        Assert.Contains(" route=allow_any cluster=PassthroughCluster ", mesh.LastAccessLog("sidecar").Line, StringComparison.Ordinal);
        Assert.Equal(200, (await mesh.GetAsync($"http://{Registered}/")).Status);
    }
}

/// <summary>
/// A Sidecar's <c>egress[].hosts</c> (sidecar.go): the workload's sidecar imports only the services — and
/// VirtualServices — of the namespaces and hosts listed; a host it does not import is unknown to it (REGISTRY_ONLY:
/// block_all).
/// </summary>
public sealed class SidecarEgressHostsTests
{
    [Fact]
    public async Task ASidecarImportsOnlyTheHostsItsEgressListsAndDotIsTheWorkloadsNamespace()
    {
        var yaml = Join(
            ServiceEntry("kept.example.com").Replace("  name: kept-example-com", "  name: kept-example-com\n  namespace: demo", StringComparison.Ordinal),
            ServiceEntry("other.example.com").Replace("  name: other-example-com", "  name: other-example-com\n  namespace: elsewhere", StringComparison.Ordinal),
            """
            apiVersion: networking.istio.io/v1
            kind: Sidecar
            metadata:
              name: default
              namespace: demo
            spec:
              egress:
                - hosts:
                    - ./*
                    - istio-system/*
              outboundTrafficPolicy:
                mode: REGISTRY_ONLY
            """);
        await using var mesh = await ConformanceMesh.StartAsync(yaml, new External("kept.example.com"), new External("other.example.com"));

        Assert.Equal(200, (await mesh.GetAsync("http://kept.example.com/")).Status);
        Assert.Equal(502, (await mesh.GetAsync("http://other.example.com/")).Status);
        Assert.Contains(" route=block_all cluster=BlackHoleCluster ", mesh.LastAccessLog("sidecar").Line, StringComparison.Ordinal);
    }
}
