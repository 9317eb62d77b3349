using System.Collections.Concurrent;
using System.Diagnostics;
using Demo.EgressGateway.Mesh;

namespace Demo.EgressGateway.Tests;

/// <summary>
/// Issue 10: spans as Istio shows them — Envoy's operation names (<c>host:port/*</c>), Envoy's and Istio's tag names,
/// error status on the proxy that injected the fault or made the local error reply, the version on the gateway span,
/// https where the gateway originates TLS.
/// </summary>
public sealed class IstioTraceTests : IDisposable
{
    private readonly GatewaySpans _spans = new();

    public void Dispose() => _spans.Dispose();

    private async Task<(Activity Sidecar, Activity? Gateway, int Status)> TraceOneAsync(GatewayHost gateway, string url = GatewayHost.InMeshUrl)
    {
        var (status, spans) = await _spans.TraceAsync(gateway, url);
        return (Assert.Single(spans, a => (string?)a.GetTagItem("istio.stage") == "sidecar"),
            spans.SingleOrDefault(a => (string?)a.GetTagItem("istio.stage") == "gateway"), status);
    }

    [Fact]
    public async Task Spans_carry_envoys_operation_names_and_istios_tags_and_the_gateway_span_https()
    {
        await using var gateway = await GatewayHost.StartAsync(folder =>
        {
            folder.Write(MeshYaml.SidecarFile, MeshYaml.Sidecar(0, 100));
            folder.Write(MeshYaml.EgressFile, MeshYaml.Egress());
        });

        var (sidecar, egress, status) = await TraceOneAsync(gateway);

        Assert.Equal(200, status);
        Assert.NotNull(egress);
        // Two weighted destinations: the VirtualService's name and the listener port (Istio's GetRouteOperation).
        Assert.Equal("hello:80/*", sidecar.DisplayName);
        // One destination: its host and port.
        Assert.Equal("hello-istio-v2.apps.example.com:443/*", egress.DisplayName);
        Assert.Equal("outbound|443|v2|istio-egressgateway.istio-system.svc.cluster.local", sidecar.GetTagItem("upstream_cluster"));
        Assert.Equal("outbound|443||hello-istio-v2.apps.example.com", egress.GetTagItem("upstream_cluster"));
        Assert.Equal("200", egress.GetTagItem("http.status_code"));
        Assert.Equal("-", egress.GetTagItem("response_flags"));
        Assert.Equal("proxy", sidecar.GetTagItem("istio.canonical_service"));
        Assert.Equal("istio-egressgateway", egress.GetTagItem("istio.canonical_service"));
        Assert.Equal("cluster.local", egress.GetTagItem("istio.mesh_id"));
        // The gateway routes to the CF host's own cluster (no subset) and a DNS ServiceEntry endpoint has no version
        // label: Istio's stats and spans name no version there (istio/proxy istio_stats: an unknown peer's labels are
        // "unknown"); the version is the sidecar's pick, on the sidecar's span.
        Assert.Equal("unknown", egress.GetTagItem("istio.destination.version"));
        Assert.Equal("unknown", egress.GetTagItem("destination_version"));
        Assert.Equal("v2", sidecar.GetTagItem("istio.destination.version"));
        Assert.Equal("https", egress.GetTagItem("url.scheme"));
        Assert.Equal("hello-istio-v2.apps.example.com", egress.GetTagItem("tls.server_name"));
        Assert.Null(sidecar.GetTagItem("url.scheme"));
        Assert.Equal(ActivityStatusCode.Unset, sidecar.Status);
        Assert.Equal(ActivityStatusCode.Unset, egress.Status);
    }

    [Fact]
    public async Task The_gateway_span_that_injected_the_abort_is_an_error_and_the_sidecar_that_passed_it_on_is_not()
    {
        await using var gateway = await GatewayHost.StartAsync(folder =>
        {
            folder.Write(MeshYaml.SidecarFile, MeshYaml.Sidecar(100, 0, retries: MeshYaml.Retries(0, "5xx")));
            folder.Write(MeshYaml.EgressFile, MeshYaml.Egress(fault: MeshYaml.Abort(418, 100)));
        });

        var (sidecar, egress, status) = await TraceOneAsync(gateway);

        Assert.Equal(418, status);
        Assert.NotNull(egress);
        Assert.Equal(ActivityStatusCode.Error, egress.Status);
        Assert.Contains("fault filter abort", egress.StatusDescription, StringComparison.Ordinal);
        Assert.Equal("FI", egress.GetTagItem("response_flags"));
        Assert.Equal("418", egress.GetTagItem("http.status_code"));
        Assert.Equal("unknown", egress.GetTagItem("istio.destination.version"));
        Assert.Equal("v1", sidecar.GetTagItem("istio.destination.version"));
        // Envoy's own error tag is for 5xx (or no response) only.
        Assert.Null(egress.GetTagItem("error"));
        Assert.Equal(ActivityStatusCode.Unset, sidecar.Status);
    }

    [Fact]
    public async Task A_local_error_reply_marks_the_replying_proxys_span_as_an_error()
    {
        await using var gateway = await GatewayHost.StartAsync();

        var (sidecar, egress, status) = await TraceOneAsync(gateway, "http://not-registered.example.com/");

        Assert.Equal(502, status);
        Assert.Null(egress);
        Assert.Equal(ActivityStatusCode.Error, sidecar.Status);
        // Istio's block_all is a direct response: 502 with no response flag (httproute.go, util.BlackHole).
        Assert.Equal("-", sidecar.GetTagItem("response_flags"));
        Assert.Equal("not-registered.example.com:80/*", sidecar.DisplayName);
    }

    [Fact]
    public async Task An_ejected_version_fails_fast_and_the_gateway_span_says_UH_as_an_error()
    {
        await using var gateway = await GatewayHost.StartAsync(folder =>
        {
            folder.Write(MeshYaml.SidecarFile, MeshYaml.Sidecar(0, 100, retries: MeshYaml.Retries(0, "5xx")));
            folder.Write(MeshYaml.EgressFile, MeshYaml.Egress());
        });
        gateway.Upstream.Behaviour = async context =>
        {
            context.Response.StatusCode = 503;
            await context.Response.WriteAsync("down");
            return true;
        };
        for (var i = 0; i < 3; i++)
        {
            await gateway.GetAsync();
        }

        var (sidecar, egress, status) = await TraceOneAsync(gateway);

        Assert.Equal(503, status);
        Assert.NotNull(egress);
        Assert.Equal("UH", egress.GetTagItem("response_flags"));
        Assert.Equal(ActivityStatusCode.Error, egress.Status);
        Assert.Equal("true", egress.GetTagItem("error"));
        // A 5xx the sidecar passes on is still a 5xx on its span (Envoy tags error=true for every 5xx).
        Assert.Equal(ActivityStatusCode.Error, sidecar.Status);
    }
}
