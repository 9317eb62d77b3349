using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using Demo.EgressGateway.Envoy;
using Demo.EgressGateway.Istio;
using Demo.EgressGateway.Mesh;
using Microsoft.Extensions.Time.Testing;

namespace Demo.EgressGateway.Tests;

/// <summary>
/// The fidelity issue's divergences, one test per behaviour, each asserting what Istio's or Envoy's own source says
/// (the source is named next to each expectation).
/// </summary>
public sealed class IstioFidelityTests(ITestOutputHelper output)
{
    // Expected bodies are Envoy's local replies, as literals: "upstream request timeout" (Filter::onUpstreamTimeoutAbort)
    // and "no healthy upstream" (Filter::sendNoHealthyUpstreamResponse), envoy source/common/router/router.cc.

    private static Demo.EgressGateway.Envoy.OutlierDetection Outlier(int gatewayErrors = 1, int maxEjectionPercent = 100, double intervalSeconds = 10, double baseSeconds = 30) =>
        new(Consecutive5xx: 0, TimeSpan.FromSeconds(intervalSeconds), TimeSpan.FromSeconds(baseSeconds), maxEjectionPercent,
            EnforcingConsecutive5xx: 0, ConsecutiveGatewayFailure: gatewayErrors, EnforcingConsecutiveGatewayFailure: 100);

    // envoyproxy/envoy#27909 (Envoy ≥ 1.27, Istio ≥ 1.19): (ejected + 1) / hosts must stay within max_ejection_percent.
    [Fact]
    public void Outlier_detection_never_ejects_the_only_host_at_Envoys_default_10_percent()
    {
        var time = new FakeTimeProvider();
        var host = new HostHealth(new OutlierGroup(time));
        for (var i = 0; i < 20; i++)
        {
            Assert.False(host.Record(Outlier(maxEjectionPercent: 10), hostsInCluster: 1, status: 503, localOriginFailure: false));
        }
        Assert.False(host.IsEjected(Outlier(maxEjectionPercent: 10)));
        Assert.True(new HostHealth(new OutlierGroup(time)).Record(Outlier(maxEjectionPercent: 100), 1, 503, false));
    }

    [Fact]
    public void Max_ejection_percent_counts_the_host_being_ejected()
    {
        var time = new FakeTimeProvider();
        var group = new OutlierGroup(time);
        var first = new HostHealth(group);
        var second = new HostHealth(group);
        var settings = Outlier(maxEjectionPercent: 50);

        Assert.True(first.Record(settings, hostsInCluster: 2, 502, false));   // (0 + 1) / 2 = 50% ≤ 50%
        Assert.False(second.Record(settings, hostsInCluster: 2, 502, false)); // (1 + 1) / 2 = 100% > 50%
        Assert.Equal(1, group.Ejected);
    }

    // Envoy's detector: ejection time = base_ejection_time × the host's ejection back-off (capped at
    // max(max_ejection_time 300 s, base)); hosts are un-ejected only by the interval sweep; the back-off shrinks by
    // one on each sweep that finds the host healthy.
    [Fact]
    public void Ejection_time_is_base_times_ejections_and_ends_on_an_interval_sweep()
    {
        var time = new FakeTimeProvider();
        var host = new HostHealth(new OutlierGroup(time));
        var settings = Outlier(intervalSeconds: 10, baseSeconds: 30);

        time.Advance(TimeSpan.FromSeconds(1));
        Assert.True(host.Record(settings, 1, 503, false));
        time.Advance(TimeSpan.FromSeconds(30));                 // t = 31: 30 s have passed, the next sweep is at 40
        Assert.True(host.IsEjected(settings));
        time.Advance(TimeSpan.FromSeconds(9));                  // t = 40: sweep
        Assert.False(host.IsEjected(settings));

        time.Advance(TimeSpan.FromSeconds(1));                  // t = 41: second ejection, 2 × 30 s
        Assert.True(host.Record(settings, 1, 503, false));
        time.Advance(TimeSpan.FromSeconds(68));                 // t = 109: 60 s passed at 101, the sweep is at 110
        Assert.True(host.IsEjected(settings));
        time.Advance(TimeSpan.FromSeconds(1));                  // t = 110
        Assert.False(host.IsEjected(settings));
        Assert.Equal(2, host.Ejections);

        time.Advance(TimeSpan.FromSeconds(25));                 // t = 135: sweeps at 120 and 130 shrank the back-off to 0
        Assert.True(host.Record(settings, 1, 503, false));      // third ejection: 1 × 30 s again
        time.Advance(TimeSpan.FromSeconds(35));                 // t = 170: 30 s passed at 165, sweep at 170
        Assert.False(host.IsEjected(settings));
    }

    // Envoy's HTTP/1.1 pool with its circuit breakers: max_connections requests in flight, max_pending_requests waiting.
    [Fact]
    public async Task The_connection_pool_overflows_beyond_max_connections_plus_max_pending_requests()
    {
        var gate = new ConnectionPoolGate(new Thresholds(MaxConnections: 1, MaxPendingRequests: 1, MaxRequests: uint.MaxValue, MaxRetries: uint.MaxValue, TrackRemaining: false));
        Assert.True(await gate.TryEnterAsync(CancellationToken.None));
        var pending = gate.TryEnterAsync(CancellationToken.None).AsTask();
        Assert.Equal(1, gate.Pending);
        Assert.False(await gate.TryEnterAsync(CancellationToken.None));
        gate.Exit();
        Assert.True(await pending);
        gate.Exit();

        // Cold start (ConnPoolImplBase::newStreamImpl): the first request's connection is still being set up, so it
        // counts as pending and a second request finds the pending budget spent.
        Assert.True(await gate.TryEnterAsync(CancellationToken.None));
        gate.ConnectStarted();
        Assert.False(await gate.TryEnterAsync(CancellationToken.None));
        gate.ConnectEnded();
        var waiting = gate.TryEnterAsync(CancellationToken.None).AsTask();
        Assert.False(waiting.IsCompleted);
        gate.Exit();
        Assert.True(await waiting);
    }

    // retry.go ConvertPolicy: attempts <= 0 returns no retry policy at all — not even DefaultPolicy, whose retry_on
    // "connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes" with num_retries 2 does retry a
    // refused connection: 1 + 2 tries, then URX (Envoy router.cc sets UpstreamRetryLimitExceeded when retries run out,
    // and its reset body says "retried and the latest reset reason" after a retry). The CF host's port is closed here,
    // so the gateway's route meets connect failures (UF); the second row, without a retries block, shows that the same
    // failure is retried by default, so the first row can fail.
    [Theory]
    [InlineData("attempts: 0", " 503 UF attempts=1 ", "reset reason: remote connection failure")]
    [InlineData("no retries block (Istio's default policy)", " 503 UF,URX attempts=3 ", "retried and the latest reset reason: remote connection failure")]
    public async Task Attempts_0_disables_retries(string retries, string gatewayAccessLog, string resetReason)
    {
        Assert.Null(IstioTranslator.ConvertRetryPolicy(new HttpRetry(0, null, null, null), IstioVersion.Default));
        var zero = retries == "attempts: 0";

        await using var gateway = await GatewayHost.StartAsync(folder =>
        {
            folder.Write(MeshYaml.SidecarFile, MeshYaml.Sidecar(100, 0, retries: MeshYaml.Retries(0, "")));
            folder.Write(MeshYaml.EgressFile, MeshYaml.Egress(retries: zero ? MeshYaml.Retries(0, "") : null));
        }, settings: new Dictionary<string, string?> { [$"EgressGateway:Upstreams:{GatewayHost.V1Host}"] = $"127.0.0.1:{ClosedPort()}" });

        var (status, body) = await gateway.GetAsync();

        Assert.Equal(503, status);
        Assert.StartsWith("upstream connect error or disconnect/reset before headers. " + resetReason, body, StringComparison.Ordinal);
        var gatewayLines = gateway.Logs.Messages().Where(m => m.StartsWith("[gateway]", StringComparison.Ordinal)).ToList();
        var line = Assert.Single(gatewayLines);
        Assert.Contains(gatewayAccessLog, line, StringComparison.Ordinal);
        Assert.Contains(gateway.Logs.Messages(), m => m.StartsWith("[sidecar]", StringComparison.Ordinal) && m.Contains(" 503 - attempts=1 ", StringComparison.Ordinal));
        Assert.Equal(0, gateway.Upstream.TotalHits);
    }

    private static int ClosedPort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    // retry.go defaultPolicy: retriable_status_codes [503] up to Istio 1.23; none from 1.24 (istio/istio#52111).
    [Theory]
    [InlineData("1.22", 200, 2)]
    [InlineData("1.23", 200, 2)]
    [InlineData("1.24", 503, 1)]
    [InlineData("1.30", 503, 1)]
    public async Task The_default_retry_policy_retries_503_up_to_Istio_1_23_only(string version, int expectedStatus, int expectedHits)
    {
        var policy = IstioTranslator.ConvertRetryPolicy(null, IstioVersion.Parse(version))!;
        Assert.Equal("connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes", policy.RetryOn);
        Assert.Equal(2, policy.NumRetries);

        await using var gateway = await GatewayHost.StartAsync(folder =>
        {
            RoutingTests.NoFaults(folder);
            folder.Write(MeshYaml.SidecarFile, MeshYaml.Sidecar(100, 0, retries: MeshYaml.Retries(0, "5xx")));
        }, settings: new() { ["EgressGateway:IstioVersion"] = version });
        gateway.Upstream.FailFirstRequestWith503();

        var (status, _) = await gateway.GetAsync();

        Assert.Equal(expectedStatus, status);
        Assert.Equal(expectedHits, gateway.Upstream.Hits(GatewayHost.V1Host));
    }

    [Fact]
    public void An_Istio_version_outside_1_22_to_1_30_is_refused_naming_the_range()
    {
        var error = Assert.Throws<FormatException>(() => IstioVersion.Parse("1.21"));
        Assert.Contains("1.22–1.30", error.Message, StringComparison.Ordinal);
        Assert.True(IstioVersion.Parse("1.22").Serves("networking.istio.io/v1"));
        Assert.False(IstioVersion.Parse("1.30").Serves("networking.istio.io/v2"));
    }

    // Envoy's router: a route naming a cluster the proxy does not have answers 503 with flag NC (cluster_not_found).
    [Fact]
    public async Task A_route_to_a_subset_no_DestinationRule_defines_gets_503_NC()
    {
        await using var gateway = await GatewayHost.StartAsync(folder =>
        {
            RoutingTests.NoFaults(folder);
            folder.Write(MeshYaml.SidecarFile, MeshYaml.Sidecar(0, 100).Replace("subset: v2", "subset: v3", StringComparison.Ordinal));
        });

        Assert.Equal((503, ""), await gateway.GetAsync());
        Assert.Equal(0, gateway.Upstream.TotalHits);
        Assert.Contains(gateway.Logs.Messages(), m => m.StartsWith("[sidecar]", StringComparison.Ordinal)
            && m.Contains(" 503 NC attempts=0 ", StringComparison.Ordinal) && m.Contains("details=cluster_not_found", StringComparison.Ordinal));
    }

    // The other common way to shift traffic between external versions: one ServiceEntry whose endpoints carry labels,
    // and DestinationRule subsets that select them (Envoy: one cluster per subset, holding the matching endpoints).
    [Fact]
    public async Task ServiceEntry_endpoints_with_labels_and_DestinationRule_subsets_shift_traffic_between_versions()
    {
        await using var gateway = await GatewayHost.StartAsync(folder =>
        {
            RoutingTests.NoFaults(folder);
            folder.Write("service-entry-hello-versions.yaml", $$"""
                apiVersion: networking.istio.io/v1
                kind: ServiceEntry
                metadata:
                  name: hello-versions
                spec:
                  hosts: [hello.versions]
                  location: MESH_EXTERNAL
                  resolution: DNS
                  ports:
                    - { number: 443, name: https, protocol: HTTPS }
                  endpoints:
                    - { address: {{GatewayHost.V1Host}}, labels: { version: v1 } }
                    - { address: {{GatewayHost.V2Host}}, labels: { version: v2 } }
                """);
            folder.Write("destination-rule-hello-versions.yaml", $$"""
                apiVersion: networking.istio.io/v1
                kind: DestinationRule
                metadata:
                  name: hello-versions
                spec:
                  host: hello.versions
                  subsets:
                    - name: v1
                      labels: { version: v1 }
                      trafficPolicy:
                        tls: { mode: SIMPLE, sni: {{GatewayHost.V1Host}}, subjectAltNames: [{{GatewayHost.V1Host}}] }
                    - name: v2
                      labels: { version: v2 }
                      trafficPolicy:
                        tls: { mode: SIMPLE, sni: {{GatewayHost.V2Host}}, subjectAltNames: [{{GatewayHost.V2Host}}] }
                """);
            folder.Write(MeshYaml.SidecarFile, $$"""
                apiVersion: networking.istio.io/v1
                kind: VirtualService
                metadata:
                  name: hello
                spec:
                  hosts: [hello.external]
                  http:
                    - route:
                        - destination: { host: hello.versions, subset: v1 }
                          weight: 50
                          headers: { request: { set: { host: {{GatewayHost.V1Host}} } } }
                        - destination: { host: hello.versions, subset: v2 }
                          weight: 50
                          headers: { request: { set: { host: {{GatewayHost.V2Host}} } } }
                """);
        });

        // One sample of 200 requests; the 50/50 split is tested jointly by chi-square at ChiSquare.Alpha.
        var counts = new Dictionary<string, int> { ["Hello K8s, from CF v1 service!"] = 0, ["Hello K8s, from CF v2 service!"] = 0 };
        for (var i = 0; i < 200; i++)
        {
            var (status, body) = await gateway.GetAsync();
            Assert.True(status == 200 && counts.ContainsKey(body), $"{status} {body}");
            counts[body]++;
        }

        ChiSquare.AssertFits(output, "ServiceEntry endpoint subsets v1/v2, weights 50/50",
            ("v1", counts["Hello K8s, from CF v1 service!"], 50), ("v2", counts["Hello K8s, from CF v2 service!"], 50));
        var sidecar = gateway.Config.Current.Xds.Sidecar;
        Assert.Equal([GatewayHost.V1Host], sidecar.EndpointsOf(sidecar.Clusters.Single(c => c.Name == "outbound|443|v1|hello.versions")).Select(e => e.Address));
        Assert.Equal([GatewayHost.V2Host], sidecar.EndpointsOf(sidecar.Clusters.Single(c => c.Name == "outbound|443|v2|hello.versions")).Select(e => e.Address));
    }

    // push_context.go destinationRule / MostSpecificHostMatch: an exact host beats a wildcard one.
    [Fact]
    public async Task The_most_specific_DestinationRule_wins_over_a_wildcard_one_without_false_warnings()
    {
        static void AddWildcardRule(ConfigFolder folder) => folder.Write("destination-rule-apps-wildcard.yaml", """
            apiVersion: networking.istio.io/v1
            kind: DestinationRule
            metadata:
              name: apps-wildcard
              namespace: istio-system
            spec:
              exportTo: ["."]
              host: "*.apps.example.com"
              trafficPolicy:
                tls:
                  mode: DISABLE
            """);
        var folder = ConfigFolder.CopyOfDeployIstio();
        AddWildcardRule(folder);
        Assert.Empty(IstioAnalyzeCommand.Analyze(folder.Path, []));

        await using var gateway = await GatewayHost.StartAsync(f => { RoutingTests.NoFaults(f); AddWildcardRule(f); });
        for (var i = 0; i < 10; i++)
        {
            var (status, body) = await gateway.GetAsync();
            Assert.True(status == 200, $"{status} {body}");
        }
        Assert.NotNull(gateway.Config.Current.Xds.Gateway.Clusters.Single(c => c.Name == $"outbound|443||{GatewayHost.V1Host}").TransportSocket);
    }

    // Envoy's HTTP/1.1 codec has no stream reset: an upstream that closes its connection before answering is a
    // connection termination (UC, "reset reason: connection termination"); UR is HTTP/2's RST_STREAM.
    [Fact]
    public async Task An_upstream_that_closes_its_connection_before_answering_is_UC_not_UR()
    {
        await using var gateway = await GatewayHost.StartAsync(folder =>
        {
            RoutingTests.NoFaults(folder);
            folder.Write(MeshYaml.SidecarFile, MeshYaml.Sidecar(100, 0, retries: MeshYaml.Retries(0, "5xx")));
        });
        gateway.Upstream.Behaviour = context =>
        {
            context.Abort();
            return Task.FromResult(true);
        };

        var (status, body) = await gateway.GetAsync();

        Assert.Equal(503, status);
        Assert.Equal("upstream connect error or disconnect/reset before headers. reset reason: connection termination", body);
        Assert.Contains(gateway.Logs.Messages(), m => m.StartsWith("[gateway]", StringComparison.Ordinal) && m.Contains(" 503 UC attempts=1 ", StringComparison.Ordinal));
        Assert.DoesNotContain(gateway.Logs.Messages(), m => m.Contains(" UR ", StringComparison.Ordinal));
    }

    // The SNI the sidecar presents picks the egress gateway's filter chain: without a server for it Envoy closes the
    // connection (access log NR, filter_chain_not_found) and the sidecar sees a connection failure (UF).
    [Fact]
    public async Task A_subset_SNI_no_gateway_server_accepts_is_UF_at_the_sidecar_and_NR_filter_chain_not_found_at_the_gateway()
    {
        await using var gateway = await GatewayHost.StartAsync(folder =>
        {
            RoutingTests.NoFaults(folder);
            folder.Write(MeshYaml.SidecarFile, MeshYaml.Sidecar(100, 0, retries: MeshYaml.Retries(0, "5xx")));
            folder.Replace("destination-rule-istio-egressgateway.yaml", "sni: hello-istio-v1.apps.example.com", "sni: nobody.apps.example.com");
        });

        var (status, body) = await gateway.GetAsync();

        Assert.Equal(503, status);
        Assert.StartsWith("upstream connect error or disconnect/reset before headers. reset reason: remote connection failure", body, StringComparison.Ordinal);
        Assert.Contains(gateway.Logs.Messages(), m => m.StartsWith("[sidecar]", StringComparison.Ordinal) && m.Contains(" 503 UF attempts=1 ", StringComparison.Ordinal));
        Assert.Contains(gateway.Logs.Messages(), m => m.StartsWith("[gateway]", StringComparison.Ordinal)
            && m.Contains(" 0 NR ", StringComparison.Ordinal) && m.Contains("details=filter_chain_not_found sni=nobody.apps.example.com", StringComparison.Ordinal));
        Assert.Equal(0, gateway.Upstream.TotalHits);
    }

    // exportTo: the CF hosts' ServiceEntry lives in the gateway's namespace and is exported only there, and port 443
    // is HTTPS (TLS passthrough at a sidecar, no HTTP routes): plain HTTP from the app to a CF host on 443 meets the
    // BlackHoleCluster, as in the cluster.
    [Fact]
    public async Task Plain_HTTP_from_the_app_straight_to_a_CF_host_on_443_is_blocked_as_in_the_cluster()
    {
        await using var gateway = await GatewayHost.StartAsync(RoutingTests.NoFaults);

        await Assert.ThrowsAsync<HttpRequestException>(() => gateway.GetAsync($"http://{GatewayHost.V1Host}:443/"));

        Assert.Equal(0, gateway.Upstream.TotalHits);
        Assert.Contains(gateway.Logs.Messages(), m => m.StartsWith("[sidecar]", StringComparison.Ordinal)
            && m.Contains(" 0 UH attempts=0 route=- cluster=BlackHoleCluster ", StringComparison.Ordinal));
        Assert.DoesNotContain(gateway.Config.Current.Xds.Sidecar.Clusters, c => c.Name.EndsWith(GatewayHost.V1Host, StringComparison.Ordinal));
        Assert.Contains(gateway.Config.Current.Xds.Gateway.Clusters, c => c.Name == $"outbound|443||{GatewayHost.V1Host}");
    }

    // A sidecar → gateway hop whose TLS does not fit the server: the DestinationRule turns Istio's mTLS off (DISABLE)
    // while the Gateway server terminates ISTIO_MUTUAL for given SNIs — the gateway's tls_inspector finds raw_buffer,
    // no filter chain takes it, and the gateway closes the connection (NR filter_chain_not_found). For the sidecar a
    // plain-text connection is up once TCP connects (Envoy raises Connected with no transport handshake), so the close
    // resets the request it sent: 503 UC, "reset reason: connection termination" (router.cc onUpstreamReset), not UF.
    [Fact]
    public async Task Plain_text_from_the_sidecar_to_an_ISTIO_MUTUAL_gateway_server_is_closed_by_the_gateway_UC_at_the_sidecar()
    {
        await using var gateway = await GatewayHost.StartAsync(folder =>
        {
            RoutingTests.NoFaults(folder);
            folder.Write(MeshYaml.SidecarFile, MeshYaml.Sidecar(100, 0, retries: MeshYaml.Retries(0, "5xx")));
            folder.Replace("destination-rule-istio-egressgateway.yaml", "              mode: ISTIO_MUTUAL\n              sni: hello-istio-v1.apps.example.com",
                "              mode: DISABLE");
        });

        var (status, body) = await gateway.GetAsync();

        Assert.Equal(503, status);
        Assert.Equal("upstream connect error or disconnect/reset before headers. reset reason: connection termination", body);
        Assert.Contains(gateway.Logs.Messages(), m => m.StartsWith("[sidecar]", StringComparison.Ordinal) && m.Contains(" 503 UC attempts=1 ", StringComparison.Ordinal));
        Assert.Contains(gateway.Logs.Messages(), m => m.StartsWith("[gateway]", StringComparison.Ordinal)
            && m.Contains("details=filter_chain_not_found sni=- port=443", StringComparison.Ordinal));
        Assert.Equal(0, gateway.Upstream.TotalHits);
    }

    // The sidecar and the egress gateway are two proxies: on a retry the sidecar sends its own request again, and the
    // gateway's rewrite and added headers apply once to it, not on top of the previous try's.
    [Fact]
    public async Task A_sidecar_retry_does_not_carry_the_gateways_rewrite_and_added_headers_twice()
    {
        await using var gateway = await GatewayHost.StartAsync(folder =>
        {
            folder.Write(MeshYaml.SidecarFile, MeshYaml.Sidecar(100, 0, retries: MeshYaml.Retries(2, "5xx")));
            folder.Write(MeshYaml.EgressFile, $$"""
                apiVersion: networking.istio.io/v1
                kind: VirtualService
                metadata:
                  name: hello-egress
                spec:
                  hosts: [{{GatewayHost.V1Host}}]
                  gateways: [hello-cf-egress]
                  http:
                    - match:
                        - uri: { prefix: /api }
                          authority: { exact: {{GatewayHost.V1Host}} }
                      rewrite: { uri: /api/v2 }
                      headers: { request: { add: { x-gw: "1" } } }
                      retries: { attempts: 0 }
                      route:
                        - destination: { host: {{GatewayHost.V1Host}}, port: { number: 443 } }
                """);
        });
        var seen = new System.Collections.Concurrent.ConcurrentQueue<(string Path, string Header)>();
        gateway.Upstream.FailFirstRequestWith503(context => seen.Enqueue((context.Request.Path.Value!, context.Request.Headers["x-gw"].ToString())));

        var (status, _) = await gateway.GetAsync("http://hello.external/api/x");

        Assert.Equal(200, status);
        Assert.Equal([("/api/v2/x", "1"), ("/api/v2/x", "1")], seen.ToArray());
        Assert.Contains(gateway.Logs.Messages(), m => m.StartsWith("[sidecar] \"GET /api/x ", StringComparison.Ordinal) && m.Contains(" attempts=2 ", StringComparison.Ordinal));
    }

    // gateway.go buildGatewayHTTPRouteConfig: the routes of every VirtualService bound to a host end up in its virtual host.
    [Fact]
    public async Task Two_gateway_VirtualServices_for_one_host_merge_their_routes()
    {
        static string GatewayVs(string name, string prefix, int status) => $$"""
            apiVersion: networking.istio.io/v1
            kind: VirtualService
            metadata:
              name: {{name}}
            spec:
              hosts: [{{GatewayHost.V1Host}}]
              gateways: [hello-cf-egress]
              http:
                - match: [{ uri: { prefix: {{prefix}} } }]
                  fault: { abort: { httpStatus: {{status}}, percentage: { value: 100 } } }
                  route:
                    - destination: { host: {{GatewayHost.V1Host}}, port: { number: 443 } }
            """;
        await using var gateway = await GatewayHost.StartAsync(folder =>
        {
            folder.Write(MeshYaml.SidecarFile, MeshYaml.Sidecar(100, 0, retries: MeshYaml.Retries(0, "5xx")));
            folder.Write(MeshYaml.EgressFile, GatewayVs("hello-egress-a", "/a", 418));
            folder.Write("virtual-service-hello-egress-b.yaml", GatewayVs("hello-egress-b", "/b", 419));
        });

        Assert.Equal(418, (await gateway.GetAsync("http://hello.external/a")).Status);
        Assert.Equal(419, (await gateway.GetAsync("http://hello.external/b")).Status);
    }

    // router.cc onPerTryTimeout / onResponseTimeout: updateOutlierDetection(LocalOriginTimeout) — a 504 for the host.
    [Fact]
    public async Task A_timeout_counts_as_a_gateway_error_for_outlier_detection()
    {
        await using var gateway = await GatewayHost.StartAsync(folder =>
        {
            folder.Write(MeshYaml.SidecarFile, MeshYaml.Sidecar(100, 0, retries: MeshYaml.Retries(0, "5xx")));
            folder.Write(MeshYaml.EgressFile, MeshYaml.Egress(timeout: "300ms", retries: MeshYaml.Retries(0, "5xx")));
            folder.Replace("destination-rule-hello-istio-v1.yaml", "consecutiveGatewayErrors: 3", "consecutiveGatewayErrors: 1");
        });
        // A first answer opens the TLS connection, so the 300 ms below are the upstream's, not a cold handshake's.
        Assert.Equal(200, (await gateway.GetAsync()).Status);
        gateway.Upstream.Behaviour = async context =>
        {
            await Task.Delay(TimeSpan.FromSeconds(1), context.RequestAborted);
            return false;
        };

        Assert.Equal((504, "upstream request timeout"), await gateway.GetAsync());
        Assert.Equal((503, "no healthy upstream"), await gateway.GetAsync());
        Assert.Equal(2, gateway.Upstream.Hits(GatewayHost.V1Host));
    }

    // router.cc Filter::onDestroy → resetAll: when the sidecar's per-try timeout ends its attempt, the egress gateway sees
    // its downstream go away and resets its upstream request without an outlier-detection result; only the gateway's
    // own timeouts are LocalOriginTimeout. So a slow CF host behind a sidecar timeout is not ejected at the gateway.
    [Fact]
    public async Task The_sidecars_per_try_timeout_is_a_downstream_reset_for_the_gateway_not_a_timeout_that_ejects_its_host()
    {
        await using var gateway = await GatewayHost.StartAsync(folder =>
        {
            RoutingTests.NoFaults(folder);
            folder.Write(MeshYaml.SidecarFile, MeshYaml.Sidecar(100, 0, retries: MeshYaml.Retries(1, "5xx", perTryTimeout: "200ms")));
            folder.Replace("destination-rule-hello-istio-v1.yaml", "consecutiveGatewayErrors: 3", "consecutiveGatewayErrors: 1");
        });
        var slow = false;
        gateway.Upstream.Behaviour = async context =>
        {
            if (slow)
            {
                await Task.Delay(TimeSpan.FromSeconds(1), context.RequestAborted);
            }
            return false;
        };
        // A first answer opens the TLS connection, so each 200 ms try below reaches the CF host. On a loaded machine the
        // very first request (handshakes, JIT) can outlast the 200 ms per-try budget itself: warm up until one answers.
        var warm = 0;
        for (var attempt = 0; attempt < 10 && warm != 200; attempt++)
        {
            warm = (await gateway.GetAsync()).Status;
        }
        Assert.Equal(200, warm);
        var hitsBefore = gateway.Upstream.Hits(GatewayHost.V1Host);
        slow = true;

        Assert.Equal((504, "upstream request timeout"), await gateway.GetAsync());
        // Both tries reached the CF host: the first one's cancellation did not eject it.
        Assert.Equal(hitsBefore + 2, gateway.Upstream.Hits(GatewayHost.V1Host));
        Assert.Contains(gateway.Logs.Messages(), m => m.StartsWith("[gateway]", StringComparison.Ordinal) && m.Contains(" 0 DC ", StringComparison.Ordinal));
        slow = false;
        Assert.Equal(200, (await gateway.GetAsync()).Status);
    }

    // router.cc onPerTryTimeout: the last try's per-try timeout gives response_code_details upstream_per_try_timeout,
    // and URX when the retries are used up.
    [Fact]
    public async Task Per_try_timeouts_that_use_up_the_retries_are_UT_URX_with_upstream_per_try_timeout()
    {
        await using var gateway = await GatewayHost.StartAsync(folder =>
        {
            RoutingTests.NoFaults(folder);
            folder.Write(MeshYaml.SidecarFile, MeshYaml.Sidecar(100, 0, retries: MeshYaml.Retries(2, "5xx", perTryTimeout: "200ms")));
        });
        gateway.Upstream.Behaviour = async context =>
        {
            await Task.Delay(TimeSpan.FromSeconds(2), context.RequestAborted);
            return false;
        };

        Assert.Equal((504, "upstream request timeout"), await gateway.GetAsync());
        Assert.Contains(gateway.Logs.Messages(), m => m.StartsWith("[sidecar]", StringComparison.Ordinal)
            && m.Contains(" 504 UT,URX attempts=3 ", StringComparison.Ordinal) && m.Contains("details=upstream_per_try_timeout", StringComparison.Ordinal));
    }

    // route_components.proto RouteMatch.case_sensitive: "Ignored for safe_regex matching".
    [Fact]
    public void IgnoreUriCase_does_not_make_a_regex_match_case_insensitive()
    {
        var matcher = new RouteMatcher(new RouteMatch(null, null, new RegexMatcher("/Hello.*"), CaseSensitive: false, [], []));
        var context = new DefaultHttpContext();
        context.Request.Path = "/hello";
        Assert.False(matcher.Matches(context.Request, "hello.external"));
        context.Request.Path = "/Hello/x";
        Assert.True(matcher.Matches(context.Request, "hello.external"));
    }

    // httproute.go: ignore_port_in_host_matching — the port plays no part in choosing the virtual host, but
    // :authority keeps it for header matches and for the upstream Host.
    [Fact]
    public async Task The_Host_port_is_ignored_for_the_virtual_host_but_kept_for_authority_matches()
    {
        await using var gateway = await GatewayHost.StartAsync(folder =>
        {
            RoutingTests.NoFaults(folder);
            folder.Replace(MeshYaml.SidecarFile, "    - name: hello-split\n", "    - name: hello-split\n      match:\n        - authority:\n            exact: hello.external:80\n");
        });

        Assert.Equal(200, (await gateway.GetAsync("http://hello.external/", r => r.Headers.Host = "hello.external:80")).Status);
        Assert.Equal(404, (await gateway.GetAsync("http://hello.external/", r => r.Headers.Host = "hello.external")).Status);
    }

    // route.go TranslateFault: uint32(percentage.value × 10 000) per MILLION (truncated); the integer percent per HUNDRED;
    // TranslateRoute: the route name is "<http.name>.<match.name>".
    [Fact]
    public void Fault_fractions_and_route_names_are_written_as_istiod_writes_them()
    {
        var config = IstioConfigLoader.Parse("vs.yaml", """
            apiVersion: networking.istio.io/v1
            kind: VirtualService
            metadata:
              name: faults
            spec:
              hosts: [hello.external]
              http:
                - match: [{ name: m1, uri: { prefix: /a } }]
                  fault:
                    abort: { httpStatus: 418, percentage: { value: 0.57 } }
                    delay: { fixedDelay: 1s, percent: 50 }
                  route:
                    - destination: { host: hello.external }
                - match: [{ name: m2, uri: { prefix: /b } }]
                  fault:
                    delay: { fixedDelay: 1s }
                  route:
                    - destination: { host: hello.external }
            """);
        Assert.False(config.HasErrors, string.Join('\n', config.Diagnostics));
        var routes = IstioTranslator.Translate(config, new MeshEnvironment()).Sidecar.RouteConfigs.Single(r => r.Name == "80")
            .VirtualHosts.Single(v => v.Name == "hello.external:80").Routes;
        var route = routes[0];

        Assert.Equal(".m1", route.Name);
        Assert.Equal(new FractionalPercent(5699, "MILLION"), route.Fault!.Abort!.Percentage);
        Assert.Equal(new FractionalPercent(50, "HUNDRED"), route.Fault.Delay!.Percentage);
        // Neither percentage nor percent: translateIntegerToFractionalPercent(0), i.e. 0 per HUNDRED.
        Assert.Equal(".m2", routes[1].Name);
        Assert.Equal(new FractionalPercent(0, "HUNDRED"), routes[1].Fault!.Delay!.Percentage);
    }

    // What istiod's validation refuses (pkg/config/validation: ValidateHTTPRetry, validateAuthorityRewrite), and what
    // it accepts that a stricter reading would not (validateConnectionPool, canBeConvertedToPresentMatch, mergeDestinationRule).
    [Theory]
    [InlineData("retries: { attempts: 2, retryOn: '5xx, gateway-error' }", "\" gateway-error\" is not a valid retryOn policy")]
    [InlineData("retries: { attempts: 2, retryOn: '599' }", "\"599\" is not a valid retryOn policy")]
    [InlineData("retries: { attempts: 0, retryOn: 5xx }", "http retry policy configured when attempts are set to 0 (disabled)")]
    [InlineData("rewrite: { authority: a.example.com }\n      headers: { request: { set: { host: b.example.com } } }", "authority header cannot be set multiple times")]
    [InlineData("retries: { attempts: 200, retryOn: 5xx }", null)]
    [InlineData("match: [{ headers: { x-canary: {} } }]", null)]
    public void The_loader_refuses_and_accepts_what_istiod_does(string routeYaml, string? error)
    {
        var config = IstioConfigLoader.Parse("vs.yaml", $$"""
            apiVersion: networking.istio.io/v1
            kind: VirtualService
            metadata:
              name: checks
            spec:
              hosts: [hello.external]
              http:
                - {{routeYaml}}
                  route:
                    - destination: { host: hello.external }
            """);
        if (error is null)
        {
            Assert.False(config.HasErrors, string.Join('\n', config.Diagnostics));
        }
        else
        {
            Assert.Contains(config.Diagnostics, d => d.Severity == DiagnosticSeverity.Error && d.Message.Contains(error, StringComparison.Ordinal));
        }
    }

    [Fact]
    public void A_header_match_without_a_value_is_a_presence_match_and_pool_limits_of_0_are_the_defaults()
    {
        var config = IstioConfigLoader.Parse("istio.yaml", """
            apiVersion: networking.istio.io/v1
            kind: ServiceEntry
            metadata:
              name: hello-external
            spec:
              hosts: [hello.external]
              ports: [{ number: 80, name: http, protocol: HTTP }]
              resolution: DNS
            ---
            apiVersion: networking.istio.io/v1
            kind: VirtualService
            metadata:
              name: canary
            spec:
              hosts: [hello.external]
              http:
                - match: [{ headers: { x-canary: {} } }]
                  route:
                    - destination: { host: hello.external }
            ---
            apiVersion: networking.istio.io/v1
            kind: DestinationRule
            metadata:
              name: pool-a
            spec:
              host: hello.external
              trafficPolicy:
                connectionPool: { tcp: { maxConnections: 0 }, http: { http2MaxRequests: 0 } }
              subsets: [{ name: a, labels: { v: a } }]
            ---
            apiVersion: networking.istio.io/v1
            kind: DestinationRule
            metadata:
              name: pool-b
            spec:
              host: hello.external
              subsets: [{ name: b, labels: { v: b } }]
            """);
        Assert.False(config.HasErrors, string.Join('\n', config.Diagnostics));
        var sidecar = IstioTranslator.Translate(config, new MeshEnvironment()).Sidecar;

        var header = sidecar.RouteConfigs.Single(r => r.Name == "80").VirtualHosts.Single(v => v.Name == "hello.external:80").Routes[0].Match.Headers.Single();
        Assert.Equal(("x-canary", true), (header.Name, header.PresentMatch));
        Assert.Equal(uint.MaxValue, sidecar.Clusters.Single(c => c.Name == "outbound|80||hello.external").CircuitBreakers.Default.MaxConnections);
        // Two rules for one host in one namespace are merged: both subsets exist.
        Assert.Contains(sidecar.Clusters, c => c.Name == "outbound|80|a|hello.external");
        Assert.Contains(sidecar.Clusters, c => c.Name == "outbound|80|b|hello.external");
        Assert.Contains(IstioAnalyzer.Analyze(config), d => d.Message.Contains("Istio merges them", StringComparison.Ordinal));
    }

    // What each Envoy adds to the request it forwards: x-request-id from the sidecar's connection manager,
    // x-forwarded-proto (the gateway's overwrites the sidecar's), x-envoy-attempt-count (Istio sets include_request_attempt_count), and
    // x-envoy-expected-rq-timeout-ms for a route with a timeout.
    [Fact]
    public async Task The_upstream_sees_the_headers_Envoy_adds()
    {
        await using var gateway = await GatewayHost.StartAsync(folder =>
        {
            RoutingTests.NoFaults(folder);
            folder.Write(MeshYaml.SidecarFile, MeshYaml.Sidecar(100, 0, timeout: "5s", retries: MeshYaml.Retries(2, "5xx")));
        });
        var seen = new System.Collections.Concurrent.ConcurrentQueue<IHeaderDictionary>();
        gateway.Upstream.Behaviour = context =>
        {
            seen.Enqueue(new HeaderDictionary(context.Request.Headers.ToDictionary(h => h.Key, h => h.Value, StringComparer.OrdinalIgnoreCase)));
            return Task.FromResult(false);
        };

        Assert.Equal(200, (await gateway.GetAsync()).Status);

        var headers = Assert.Single(seen);
        Assert.True(Guid.TryParse(headers["x-request-id"], out _));
        // Set to http by the sidecar (the app spoke plain HTTP), then overwritten by the egress gateway, which uses the
        // remote address: its downstream is the sidecar's mTLS connection.
        Assert.Equal("https", headers["x-forwarded-proto"].ToString());
        // The gateway (use_remote_address) appends its downstream peer: the calling app, here on 127.0.0.1.
        Assert.Equal("127.0.0.1", headers["x-forwarded-for"].ToString());
        Assert.Equal("1", headers["x-envoy-attempt-count"].ToString());
    }

    // util.go GetPortLevelTrafficPolicy: "port level policies do not inherit" — a matching portLevelSettings entry
    // replaces the whole policy for its port.
    [Fact]
    public void A_portLevelSettings_entry_replaces_the_whole_policy_for_its_port()
    {
        var folder = ConfigFolder.CopyOfDeployIstio();
        folder.Write("destination-rule-hello-istio-v1.yaml", $$"""
            apiVersion: networking.istio.io/v1
            kind: DestinationRule
            metadata:
              name: hello-istio-v1
              namespace: istio-system
            spec:
              exportTo: ["."]
              host: {{GatewayHost.V1Host}}
              trafficPolicy:
                outlierDetection: { consecutiveGatewayErrors: 3, maxEjectionPercent: 100 }
                tls: { mode: SIMPLE, sni: {{GatewayHost.V1Host}}, subjectAltNames: [{{GatewayHost.V1Host}}] }
                portLevelSettings:
                  - port: { number: 443 }
                    connectionPool: { tcp: { maxConnections: 10 } }
            """);
        var config = IstioConfigLoader.LoadDirectory(folder.Path);
        var cluster = IstioTranslator.Translate(config, new MeshEnvironment()).Gateway.Clusters.Single(c => c.Name == $"outbound|443||{GatewayHost.V1Host}");

        Assert.Null(cluster.OutlierDetection);
        Assert.Null(cluster.TransportSocket);
        Assert.Equal(10, cluster.CircuitBreakers.Default.MaxConnections);
        var diagnostics = IstioAnalyzer.Analyze(config);
        Assert.Contains(diagnostics, d => d.Field == "spec.trafficPolicy.outlierDetection" && d.Message.Contains("replaces the whole policy for that port", StringComparison.Ordinal));
        Assert.Contains(diagnostics, d => d.Field == "spec.trafficPolicy.tls" && d.Message.Contains("does not apply to port 443", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Config_dump_on_the_admin_port_shows_the_per_version_host_rewrite_and_block_all()
    {
        var (started, _, adminPort) = await GatewayHost.StartOnOwnPortsAsync();
        await using var gateway = started;
        using var admin = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{adminPort}") };

        using var sidecar = JsonDocument.Parse(await admin.GetStringAsync("/config_dump?proxy=sidecar&resource=dynamic_route_configs"));
        var routes = sidecar.RootElement.EnumerateArray().Single(r => r.GetProperty("name").GetString() == "80");
        var hello = routes.GetProperty("virtual_hosts").EnumerateArray().Single(v => v.GetProperty("name").GetString() == "hello.external:80");
        var weighted = hello.GetProperty("routes")[0].GetProperty("route").GetProperty("weighted_clusters").GetProperty("clusters");
        Assert.Equal(["hello-istio-v1.apps.example.com", "hello-istio-v2.apps.example.com"],
            weighted.EnumerateArray().Select(c => c.GetProperty("host_rewrite_literal").GetString()));
        var blockAll = routes.GetProperty("virtual_hosts").EnumerateArray().Single(v => v.GetProperty("name").GetString() == "block_all");
        Assert.Equal(502, blockAll.GetProperty("routes")[0].GetProperty("direct_response").GetProperty("status").GetInt32());

        using var full = JsonDocument.Parse(await admin.GetStringAsync("/config_dump"));
        var clusters = full.RootElement.GetProperty("configs").EnumerateArray()
            .Single(c => c.GetProperty("@type").GetString() == "type.googleapis.com/envoy.admin.v3.ClustersConfigDump")
            .GetProperty("dynamic_active_clusters").EnumerateArray().Select(c => c.GetProperty("cluster")).ToList();
        var v1 = clusters.Single(c => c.GetProperty("name").GetString() == "outbound|443||hello-istio-v1.apps.example.com");
        // deploy/istio sets no loadBalancer: cluster_traffic_policy.go applyLoadBalancer → defaultLBAlgorithm(), LEAST_REQUEST.
        Assert.Equal("LEAST_REQUEST", v1.GetProperty("lb_policy").GetString());
        var tls = v1.GetProperty("transport_socket").GetProperty("typed_config");
        Assert.Equal("hello-istio-v1.apps.example.com", tls.GetProperty("sni").GetString());
        Assert.Equal("hello-istio-v1.apps.example.com", tls.GetProperty("common_tls_context").GetProperty("combined_validation_context")
            .GetProperty("default_validation_context").GetProperty("match_subject_alt_names")[0].GetProperty("exact").GetString());

        var bad = await admin.GetAsync("/config_dump?proxy=ingress");
        Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);
        Assert.Contains("'ingress'", await bad.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

}
