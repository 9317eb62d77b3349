using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text.Json;
using Demo.EgressGateway.Envoy;
using Demo.EgressGateway.Istio;

namespace Demo.EgressGateway.Tests;

/// <summary>
/// The behaviours that changed between Istio 1.22 and 1.30, one test per change (each a <see cref="IstioVersion"/>
/// property), with rows on both sides of the version that changed it. Expected values are Istio's (or Envoy's), with
/// the source named next to them; the "Istio version" table of docs/istio-versions.md lists the same changes.
/// </summary>
public sealed class VersionedIstioFidelityTests : IDisposable
{
    private readonly GatewaySpans _spans = new();

    public void Dispose() => _spans.Dispose();

    private static MeshEnvironment At(string version) => new() { IstioVersion = IstioVersion.Parse(version) };

    // pkg/config/validation/validation.go supportedRetryOnPolicies: 1.22.0 lacks reset-before-request and
    // http3-post-connect-failure, 1.23.0 has both. The VirtualService CRD (manifests/charts/base/files/crd-all.gen.yaml)
    // has retries.backoff and retries.retryIgnorePreviousHosts from 1.26.0, not in 1.25.0.
    [Theory]
    [InlineData("1.22", "retryOn: reset-before-request", "spec.http[0].retries.retryOn", "\"reset-before-request\" is not a valid retryOn policy in Istio 1.22")]
    [InlineData("1.22", "retryOn: 5xx,http3-post-connect-failure", "spec.http[0].retries.retryOn", "\"http3-post-connect-failure\" is not a valid retryOn policy in Istio 1.22")]
    [InlineData("1.23", "retryOn: reset-before-request", null, null)]
    [InlineData("1.25", "retryOn: 5xx\n        backoff: 50ms", "spec.http[0].retries.backoff", "does not exist in Istio 1.25")]
    [InlineData("1.25", "retryOn: 5xx\n        retryIgnorePreviousHosts: false", "spec.http[0].retries.retryIgnorePreviousHosts", "does not exist in Istio 1.25")]
    [InlineData("1.26", "retryOn: 5xx\n        backoff: 50ms\n        retryIgnorePreviousHosts: false", null, null)]
    public void Retry_fields_and_conditions_younger_than_the_declared_Istio_are_refused(string version, string retries, string? field, string? error)
    {
        var config = IstioConfigLoader.Parse("vs.yaml", $$"""
            apiVersion: networking.istio.io/v1
            kind: VirtualService
            metadata:
              name: retries
            spec:
              hosts: [hello.external]
              http:
                - retries:
                    attempts: 2
                    {{retries}}
                  route:
                    - destination: { host: hello.external }
            """);
        Assert.False(config.HasErrors, string.Join('\n', config.Diagnostics));

        var errors = IstioAnalyzer.Analyze(config, At(version)).Where(d => d.Severity == DiagnosticSeverity.Error).ToList();

        if (error is null)
        {
            Assert.Empty(errors);
        }
        else
        {
            var refusal = Assert.Single(errors);
            Assert.Equal(field, refusal.Field);
            Assert.Contains(error, refusal.Message, StringComparison.Ordinal);
        }
    }

    // Istio's own case, pilot/pkg/model/push_context_test.go TestSetDestinationRuleMerging (istio/istio#52636): rule1
    // and rule2 (no exportTo) and rule3 (exportTo istio-system) for httpbin.org in namespace test. From 1.24 rule3 stays
    // a separate entry (the test: public[1].from == [rule3], 2 subsets) and the gateway, which sees both entries, uses
    // the last (sidecar.go SidecarScope.DestinationRule); rule1+rule2 (4 subsets) is what other namespaces see. Up to
    // 1.23 (destination_rule.go at 1.23.0) all three merge into one entry that takes rule3's exportTo — so it is
    // visible to istio-system only, with all six subsets.
    [Theory]
    [InlineData("1.22", "subset1,subset2,subset3,subset4,subset5,subset6", "")]
    [InlineData("1.23", "subset1,subset2,subset3,subset4,subset5,subset6", "")]
    [InlineData("1.24", "subset5,subset6", "subset1,subset2,subset3,subset4")]
    [InlineData("1.30", "subset5,subset6", "subset1,subset2,subset3,subset4")]
    public void DestinationRules_with_different_exportTo_merge_up_to_Istio_1_23_and_stay_apart_from_1_24(string version, string gatewaySubsets, string sidecarSubsets)
    {
        var config = IstioConfigLoader.Parse("httpbin.yaml", """
            apiVersion: networking.istio.io/v1
            kind: ServiceEntry
            metadata: { name: httpbin, namespace: test }
            spec:
              hosts: [httpbin.org]
              location: MESH_EXTERNAL
              ports: [{ number: 80, name: http, protocol: HTTP }]
              resolution: DNS
            ---
            apiVersion: networking.istio.io/v1
            kind: DestinationRule
            metadata: { name: rule1, namespace: test }
            spec:
              host: httpbin.org
              subsets: [{ name: subset1 }, { name: subset2 }]
            ---
            apiVersion: networking.istio.io/v1
            kind: DestinationRule
            metadata: { name: rule2, namespace: test }
            spec:
              host: httpbin.org
              subsets: [{ name: subset3 }, { name: subset4 }]
            ---
            apiVersion: networking.istio.io/v1
            kind: DestinationRule
            metadata: { name: rule3, namespace: test }
            spec:
              host: httpbin.org
              exportTo: [istio-system]
              subsets: [{ name: subset5 }, { name: subset6 }]
            """);
        Assert.False(config.HasErrors, string.Join('\n', config.Diagnostics));

        var xds = IstioTranslator.Translate(config, At(version));

        static string Subsets(ProxyConfig proxy) => string.Join(',', proxy.Clusters
            .Where(c => c.Name.EndsWith("|httpbin.org", StringComparison.Ordinal) && c.Subset is not null)
            .Select(c => c.Subset).Order(StringComparer.Ordinal));
        Assert.Equal(gatewaySubsets, Subsets(xds.Gateway));
        Assert.Equal(sidecarSubsets, Subsets(xds.Sidecar));
    }

    // sidecar.go selectServices (1.24.0, PILOT_UNIFIED_SIDECAR_SCOPE; upgrade note sidecar-scope-unit.yaml): one hostname
    // from several namespaces, none the proxy's own — a Kubernetes Service wins over a ServiceEntry. Before (1.23.0,
    // the legacy path of a sidecar with a Sidecar resource) the first one seen wins: servicesExportedToNamespace lists
    // services exported to the namespace by name before the public ones, so here the ServiceEntry. Its cluster is
    // STRICT_DNS; the Kubernetes Service's is EDS. Neither gets a TLS context: auto mTLS applies only to endpoints
    // labelled security.istio.io/tlsMode: istio (kube/conversion.go PodTLSMode), which the gateway's pods do not carry
    // (manifests/charts/istio-control/istio-discovery/files/gateway-injection-template.yaml).
    [Theory]
    [InlineData("1.23", "STRICT_DNS")]
    [InlineData("1.24", "EDS")]
    [InlineData("1.30", "EDS")]
    public void A_Kubernetes_Service_wins_a_hostname_a_ServiceEntry_shares_at_the_sidecar_from_Istio_1_24(string version, string clusterType)
    {
        var config = IstioConfigLoader.Parse("squat.yaml", $"""
            apiVersion: networking.istio.io/v1
            kind: ServiceEntry
            metadata: {"{"} name: squat, namespace: other {"}"}
            spec:
              exportTo: [demo]
              hosts: [{MeshEnvironment.DefaultEgressGatewayService}]
              location: MESH_EXTERNAL
              ports: [{"{"} number: 443, name: https, protocol: HTTPS {"}"}]
              resolution: DNS
            """);
        Assert.False(config.HasErrors, string.Join('\n', config.Diagnostics));

        var sidecar = IstioTranslator.Translate(config, At(version)).Sidecar;

        var cluster = Assert.Single(sidecar.Clusters, c => c.Name == $"outbound|443||{MeshEnvironment.DefaultEgressGatewayService}");
        Assert.Equal(clusterType, cluster.Type);
        Assert.Null(cluster.TransportSocket);
    }

    // The gateway's connection manager (use_remote_address; conn_manager_utility.cc mutateRequestHeaders). Up to 1.24
    // (Envoy ≤ 1.32) the calling pod's address is internal: x-envoy-internal: true, and the sidecar's x-request-id and
    // x-envoy-expected-rq-timeout-ms (route timeout 5s) reach the upstream. From 1.25 (Envoy 1.33, release note
    // 53402.yaml) it is an edge request: cleanInternalHeaders drops x-envoy-expected-rq-timeout-ms,
    // x-envoy-external-address is the peer (here 127.0.0.1), and a new x-request-id is generated.
    [Theory]
    [InlineData("1.22", true)]
    [InlineData("1.24", true)]
    [InlineData("1.25", false)]
    [InlineData("1.30", false)]
    public async Task The_gateway_trusts_the_calling_pod_as_internal_up_to_Istio_1_24_and_treats_it_as_an_edge_client_from_1_25(string version, bool internalRequest)
    {
        await using var gateway = await GatewayHost.StartAsync(folder =>
        {
            RoutingTests.NoFaults(folder);
            folder.Write(MeshYaml.SidecarFile, MeshYaml.Sidecar(100, 0, timeout: "5s"));
        }, settings: new() { ["EgressGateway:IstioVersion"] = version });
        var seen = new ConcurrentQueue<Dictionary<string, string>>();
        gateway.Upstream.Behaviour = context =>
        {
            seen.Enqueue(context.Request.Headers.ToDictionary(h => h.Key, h => h.Value.ToString(), StringComparer.OrdinalIgnoreCase));
            return Task.FromResult(false);
        };
        const string requestId = "6f1c2a3e-0b5d-4c1e-9a7f-2d8e4b6c0a11";

        Assert.Equal(200, (await gateway.GetAsync(configure: r => r.Headers.Add("x-request-id", requestId))).Status);

        var headers = Assert.Single(seen);
        if (internalRequest)
        {
            Assert.Equal("true", headers["x-envoy-internal"]);
            Assert.Equal(requestId, headers["x-request-id"]);
            Assert.Equal("5000", headers["x-envoy-expected-rq-timeout-ms"]);
            Assert.False(headers.ContainsKey("x-envoy-external-address"));
        }
        else
        {
            Assert.False(headers.ContainsKey("x-envoy-internal"));
            Assert.NotEqual(requestId, headers["x-request-id"]);
            Assert.True(Guid.TryParse(headers["x-request-id"], out _));
            Assert.False(headers.ContainsKey("x-envoy-expected-rq-timeout-ms"));
            Assert.Equal("127.0.0.1", headers["x-envoy-external-address"]);
        }
        Assert.Equal("1", headers["x-envoy-attempt-count"]);
    }

    // x-envoy-decorator-operation across the gateway hop. Both proxies' listeners are OUTBOUND (Istio's
    // listener.go), so each connection manager sets the header to its own route's decorator (conn_manager_impl.cc
    // traceRequest, after mutateRequestHeaders). Up to 1.24 the gateway overwrites the sidecar's 'hello:80/*' (the
    // weighted route's VirtualService name and port, route.go GetRouteOperation); from 1.25 cleanInternalHeaders drops
    // it first. Either way the upstream sees the gateway route's: its only cluster's host and port.
    [Theory]
    [InlineData("1.24")]
    [InlineData("1.25")]
    public async Task The_upstream_sees_the_gateway_routes_decorator_operation(string version)
    {
        await using var gateway = await GatewayHost.StartAsync(folder =>
        {
            RoutingTests.NoFaults(folder);
            folder.Write(MeshYaml.SidecarFile, MeshYaml.Sidecar(100, 0));
        }, settings: new() { ["EgressGateway:IstioVersion"] = version });
        var seen = new ConcurrentQueue<string>();
        gateway.Upstream.Behaviour = context =>
        {
            seen.Enqueue(context.Request.Headers["x-envoy-decorator-operation"].ToString());
            return Task.FromResult(false);
        };

        Assert.Equal(200, (await gateway.GetAsync()).Status);

        Assert.Equal([$"{GatewayHost.V1Host}:443/*"], seen);
    }

    // httproute.go GenerateAltVirtualHosts (istio/istio#56008, PILOT_ENABLE_ABSOLUTE_FQDN_VHOST_DOMAIN, 1.27): the
    // service's virtual host gets "hello.external." too (httproute_test.go TestGenerateVirtualHostDomains). Before, a
    // Host with the trailing dot falls to the catch-all virtual host: REGISTRY_ONLY's block_all, 502.
    [Theory]
    [InlineData("1.26", "hello.external", 502)]
    [InlineData("1.27", "hello.external,hello.external.", 200)]
    [InlineData("1.30", "hello.external,hello.external.", 200)]
    public async Task A_Host_with_the_trailing_dot_reaches_the_service_from_Istio_1_27(string version, string domains, int status)
    {
        await using var gateway = await GatewayHost.StartAsync(folder =>
        {
            RoutingTests.NoFaults(folder);
            folder.Write(MeshYaml.SidecarFile, MeshYaml.Sidecar(100, 0));
        }, settings: new() { ["EgressGateway:IstioVersion"] = version });

        var virtualHost = gateway.Config.Current.Xds.Sidecar.RouteConfigs.Single(r => r.Name == "80").VirtualHosts.Single(v => v.Name == "hello.external:80");
        Assert.Equal(domains, string.Join(',', virtualHost.Domains));
        Assert.Equal(status, (await gateway.GetAsync("http://hello.external./")).Status);
        Assert.Equal(status == 200 ? 1 : 0, gateway.Upstream.Hits(GatewayHost.V1Host));
    }

    // tracing.go configureFromProviderConfig: a router's connection manager gets spawn_upstream_span from
    // PILOT_SPAWN_UPSTREAM_SPAN_FOR_GATEWAY — absent before 1.26, false in 1.26 and 1.27 (pilot/pkg/features/telemetry.go
    // at 1.26.0/1.27.0), true from 1.28 (at 1.28.0; istio/istio#57572). Envoy's upstream_request.cc then starts
    // "router <cluster> egress" per upstream request, with retry.count on a retry. The gateway retries one 503 here.
    [Theory]
    [InlineData("1.25", false)]
    [InlineData("1.27", false)]
    [InlineData("1.28", true)]
    [InlineData("1.30", true)]
    public async Task The_gateway_spawns_a_span_per_upstream_request_from_Istio_1_28(string version, bool spawns)
    {
        await using var gateway = await GatewayHost.StartAsync(folder =>
        {
            folder.Write(MeshYaml.SidecarFile, MeshYaml.Sidecar(100, 0));
            folder.Write(MeshYaml.EgressFile, MeshYaml.Egress(retries: MeshYaml.Retries(1, "5xx")));
        }, settings: new() { ["EgressGateway:IstioVersion"] = version });
        gateway.Upstream.FailFirstRequestWith503();
        var (status, spans) = await _spans.TraceAsync(gateway);

        Assert.Equal(200, status);
        var egress = Assert.Single(spans, a => (string?)a.GetTagItem("istio.stage") == "gateway");
        var upstream = spans.Where(a => a.DisplayName.StartsWith("router ", StringComparison.Ordinal)).OrderBy(a => a.StartTimeUtc).ToList();
        var chain = gateway.Config.Current.Xds.Gateway.Listeners.Single(l => l.Port == 443).FilterChains.First();
        Assert.Equal(spawns, chain.HttpConnectionManager!.Tracing?.SpawnUpstreamSpan == true);
        if (!spawns)
        {
            Assert.Empty(upstream);
            return;
        }
        Assert.Equal(2, upstream.Count);
        Assert.All(upstream, span =>
        {
            Assert.Equal("router outbound|443||hello-istio-v1.apps.example.com egress", span.DisplayName);
            Assert.Equal(ActivityKind.Client, span.Kind);
            Assert.Equal(egress.SpanId, span.ParentSpanId);
            Assert.Equal("outbound|443||hello-istio-v1.apps.example.com", span.GetTagItem("upstream_cluster"));
        });
        Assert.Equal(("503", null), ((string?)upstream[0].GetTagItem("http.status_code"), (string?)upstream[0].GetTagItem("retry.count")));
        Assert.Equal(("200", "1"), ((string?)upstream[1].GetTagItem("http.status_code"), (string?)upstream[1].GetTagItem("retry.count")));
        Assert.Contains("\"spawn_upstream_span\": true", ConfigDump.ToJson(gateway.Config.Current.Xds.Gateway, ConfigDump.ListenersResource), StringComparison.Ordinal);
    }

    // cluster_traffic_policy.go getDefaultCircuitBreakerThresholds: TrackRemaining: true at 1.28.0;
    // !features.DisableTrackRemainingMetrics, default true (istio/istio#58070), at 1.29.0 — and proto3 JSON leaves a
    // false bool out of Envoy's dump.
    [Theory]
    [InlineData("1.22", true)]
    [InlineData("1.28", true)]
    [InlineData("1.29", false)]
    [InlineData("1.30", false)]
    public void Circuit_breakers_track_remaining_up_to_Istio_1_28_only(string version, bool trackRemaining)
    {
        var config = IstioConfigLoader.LoadDirectory(ConfigFolder.DeployIstio);
        var gateway = IstioTranslator.Translate(config, At(version)).Gateway;

        using var dump = JsonDocument.Parse(ConfigDump.ToJson(gateway, ConfigDump.ClustersResource));
        var thresholds = dump.RootElement.EnumerateArray()
            .Select(cluster => cluster.GetProperty("circuit_breakers").GetProperty("thresholds")[0])
            .ToList();
        Assert.NotEmpty(thresholds);
        Assert.All(thresholds, t => Assert.Equal(trackRemaining, t.TryGetProperty("track_remaining", out var value) && value.GetBoolean()));
        Assert.All(thresholds, t => Assert.Equal(trackRemaining, t.TryGetProperty("track_remaining", out _)));
    }
}
