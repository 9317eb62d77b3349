using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text.RegularExpressions;
using Demo.EgressGateway.Tests;
using static Demo.Conformance.Tests.MeshYaml;

namespace Demo.Conformance.Tests;

/// <summary>
/// Behaviours the local gateway claims (docs/local-gateway-fidelity.md, "What the local egress gateway reproduces") that Istio's integration
/// tests do not exercise, stated from Istio's and Envoy's source: each test cites where its expected outcome comes
/// from. They are listed in docs/conformance.md under "Cases from Istio/Envoy source".
/// </summary>
public sealed partial class IstioSourceCaseTests(ITestOutputHelper output)
{
    private const string Url = "http://b.external";

    private static string VirtualService(string routes) => $"""
        apiVersion: networking.istio.io/v1
        kind: VirtualService
        metadata:
          name: default
        spec:
          hosts:
            - {B}
          http:
        {routes}
        """;

    /// <summary>The VirtualService <c>down</c> for <c>down.external</c> (whose endpoint refuses connections), with <c>retries.attempts</c>.</summary>
    private static string DownVirtualService(int attempts) => $"""
        apiVersion: networking.istio.io/v1
        kind: VirtualService
        metadata:
          name: down
        spec:
          hosts:
            - down.external
          http:
            - route:
                - destination:
                    host: down.external
              retries:
                attempts: {attempts}
        """;

    private static Task<ConformanceMesh> StartAsync(string yaml, params External[] more) =>
        ConformanceMesh.StartAsync(Base(yaml), [new External(B), new External(C), new External(D), .. more]);

    /// <summary>A route that answers <paramref name="status"/> by fault abort when <paramref name="match"/> matches: shows which route was picked.</summary>
    private static string MarkedRoute(string match, int status) => $"""
            - match:
                - {match}
              route:
                - destination:
                    host: {B}
              fault:
                abort:
                  percentage:
                    value: 100
                  httpStatus: {status}
        """;

    private static string DefaultRoute => $"""
            - route:
                - destination:
                    host: {B}
        """;

    [GeneratedRegex(@"attempts=(\d+)")]
    private static partial Regex AttemptsPattern();

    private static int Attempts(AccessLogLine line) =>
        int.Parse(AttemptsPattern().Match(line.Line) is { Success: true } m ? m.Groups[1].Value : "-1", System.Globalization.CultureInfo.InvariantCulture);

    private static int ClosedPort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    // REGISTRY_ONLY: a host no ServiceEntry registers falls to Istio's "block_all" virtual host, a direct response
    // 502 (pilot/pkg/networking/core/httproute.go, util.BlackHole) — a route's direct response carries no response
    // flag in Envoy's access log.
    [Fact]
    public async Task UnregisteredHostGets502BlockAllWithoutResponseFlag()
    {
        await using var mesh = await StartAsync(VirtualService(DefaultRoute));

        var reply = await mesh.GetAsync("http://not-registered.example.org/");

        Assert.Equal(502, reply.Status);
        Assert.Equal("-", mesh.LastAccessLog("sidecar").Flags);
    }

    // Istio TestExternalService "traffic from outboundTrafficPolicy REGISTRY_ONLY to allowed host" (the HTTP port 80
    // call): a registered host without a VirtualService takes Istio's default route to its own port — 200.
    [Fact]
    public async Task RegisteredHostWithoutVirtualServiceIsReachable()
    {
        await using var mesh = await StartAsync(VirtualService(DefaultRoute));

        var reply = await mesh.GetAsync("http://c.external/");

        Assert.Equal(200, reply.Status);
        Assert.Equal("c", reply.Received.Hostname);
    }

    // retry.go ConvertPolicy: a retries block without retryOn keeps Istio's default conditions
    // "connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes" with the given attempts. No status
    // code is listed, so a 503 response is not retried (Istio ≥ 1.24, PR #52111); a connect failure is: 1 + 3 tries.
    [Fact]
    public async Task RetriesWithoutRetryOnKeepIstioDefaultConditions()
    {
        await using var mesh = await StartAsync(Join(
            VirtualService($"""
                - route:
                    - destination:
                        host: {B}
                  retries:
                    attempts: 3
            """),
            ServiceEntry("down.external"),
            DownVirtualService(attempts: 3)),
            new External("down.external", Endpoint: $"127.0.0.1:{ClosedPort()}"));
        mesh.Echo(B).Behaviour = async (context, _) =>
        {
            context.Response.StatusCode = 503;
            await context.Response.WriteAsync("unavailable");
            return true;
        };

        var unavailable = await mesh.GetAsync(Url);
        Assert.Equal(503, unavailable.Status);
        Assert.Equal(1, mesh.Echo(B).Count);

        var refused = await mesh.GetAsync("http://down.external/");
        Assert.Equal(503, refused.Status);
        Assert.Equal(4, Attempts(mesh.LastAccessLog("sidecar", "down.external")));
    }

    // retry.go ConvertPolicy: attempts <= 0 "is explicitly disabling the retry policy" — no retry at all, not even
    // Istio's default conditions (retryOn next to attempts: 0 is refused by ValidateHTTPRetry). A refused connection
    // shows it, since DefaultPolicy (retry_on "connect-failure,refused-stream,unavailable,cancelled,
    // retriable-status-codes", num_retries 2) does retry it: a host without a VirtualService gets 1 + 2 tries and URX
    // (Envoy router.cc: retries exhausted), the route with attempts: 0 one try.
    [Fact]
    public async Task ZeroAttemptsDisablesRetries()
    {
        await using var mesh = await StartAsync(Join(
            VirtualService(DefaultRoute),
            ServiceEntry("down.external"),
            ServiceEntry("down-default.external"),
            DownVirtualService(attempts: 0)),
            new External("down.external", Endpoint: $"127.0.0.1:{ClosedPort()}"),
            new External("down-default.external", Endpoint: $"127.0.0.1:{ClosedPort()}"));

        var disabled = await mesh.GetAsync("http://down.external/");
        Assert.Equal(503, disabled.Status);
        var once = mesh.LastAccessLog("sidecar", "down.external");
        Assert.Equal(1, Attempts(once));
        Assert.Equal("UF", once.Flags);

        var byDefault = await mesh.GetAsync("http://down-default.external/");
        Assert.Equal(503, byDefault.Status);
        var retried = mesh.LastAccessLog("sidecar", "down-default.external");
        Assert.Equal(3, Attempts(retried));
        Assert.Equal("UF,URX", retried.Flags);
    }

    // retry.go: retryOn 5xx with attempts 2 — Envoy tries 1 + 2 times and answers the last 503 (flag URX).
    [Fact]
    public async Task RetryOn5xxRetriesAttemptsTimes()
    {
        await using var mesh = await StartAsync(VirtualService($"""
                - route:
                    - destination:
                        host: {B}
                  retries:
                    attempts: 2
                    retryOn: 5xx
            """));
        mesh.Echo(B).Behaviour = async (context, _) =>
        {
            context.Response.StatusCode = 503;
            await context.Response.WriteAsync("unavailable");
            return true;
        };

        var reply = await mesh.GetAsync(Url);

        Assert.Equal(503, reply.Status);
        Assert.Equal(3, mesh.Echo(B).Count);
        Assert.Equal("URX", mesh.LastAccessLog("sidecar").Flags);
    }

    // Istio ≥ 1.20 validation accepts weights that do not add up to 100 (Envoy's weighted_clusters uses their sum as
    // total_weight): 60/50 sends 60/110 and 50/110 of the traffic. One sample of 1000, chi-square at ChiSquare.Alpha
    // (α = 0.000001, critical value 23.928 for 1 df), the statistic in the test output.
    [Fact]
    public async Task WeightsNotAddingUpTo100AreRelativeToTheirSum()
    {
        await using var mesh = await StartAsync(VirtualService($"""
                - route:
                    - destination:
                        host: {B}
                      weight: 60
                    - destination:
                        host: {C}
                      weight: 50
            """));

        const int calls = 1000;
        var counts = new Dictionary<string, int> { ["b"] = 0, ["c"] = 0 };
        for (var i = 0; i < calls; i++)
        {
            var reply = await mesh.GetAsync(Url);
            Assert.Equal(200, reply.Status);
            Assert.Contains(reply.Received.Hostname, counts.Keys);
            counts[reply.Received.Hostname]++;
        }

        ChiSquare.AssertFits(output, $"split b/c of {calls} calls, weights 60/50", ("b", counts["b"], 60), ("c", counts["c"], 50));
    }

    // Istio validation (pkg/config/validation/validation.go validateWeights: "total destination weight = 0") refuses
    // only an all-zero total.
    [Fact]
    public async Task AllZeroWeightsAreRefusedAtLoad()
    {
        var message = await ConformanceMesh.RefusalAsync(Base(VirtualService($"""
                - route:
                    - destination:
                        host: {B}
                      weight: 0
                    - destination:
                        host: {C}
                      weight: 0
            """)));

        // The whole refusal: file, resource, field, and Istio's own text ("total destination weight = 0",
        // pkg/config/validation/validation.go validateWeights); nothing else is refused.
        var lines = message.Split(Environment.NewLine);
        Assert.Equal(2, lines.Length);
        Assert.Equal("The Istio configuration cannot be honoured:", lines[0]);
        Assert.StartsWith("  " + Path.Combine(Path.GetTempPath(), "demo-conformance-"), lines[1], StringComparison.Ordinal);
        Assert.EndsWith("/istio.yaml: error: VirtualService 'default': spec.http[0].route: total destination weight = 0 (Istio refuses this route)",
            lines[1], StringComparison.Ordinal);
    }

    // route.go TranslateRouteMatch: uri prefix → Envoy prefix match, first matching route wins.
    [Fact]
    public async Task UriPrefixMatch()
    {
        await using var mesh = await StartAsync(VirtualService(MarkedRoute("uri:\n            prefix: /api", 451) + "\n" + DefaultRoute));

        Assert.Equal(451, (await mesh.GetAsync(Url + "/api/v1")).Status);
        Assert.Equal(451, (await mesh.GetAsync(Url + "/apis")).Status);
        Assert.Equal(200, (await mesh.GetAsync(Url + "/other")).Status);
    }

    // route.go: case_sensitive = !ignoreUriCase.
    [Fact]
    public async Task IgnoreUriCaseMakesUriMatchCaseInsensitive()
    {
        await using var mesh = await StartAsync(VirtualService(
            MarkedRoute("uri:\n            exact: /Foo\n          ignoreUriCase: true", 451) + "\n" + DefaultRoute));

        Assert.Equal(451, (await mesh.GetAsync(Url + "/foo")).Status);
        Assert.Equal(451, (await mesh.GetAsync(Url + "/FOO")).Status);
        Assert.Equal(200, (await mesh.GetAsync(Url + "/foo/bar")).Status);
    }

    // route.go translateQueryParamMatch: an exact query parameter match.
    [Fact]
    public async Task QueryParamsExactMatch()
    {
        await using var mesh = await StartAsync(VirtualService(
            MarkedRoute("queryParams:\n            version:\n              exact: v2", 451) + "\n" + DefaultRoute));

        Assert.Equal(451, (await mesh.GetAsync(Url + "/?version=v2")).Status);
        Assert.Equal(200, (await mesh.GetAsync(Url + "/?version=v1")).Status);
        Assert.Equal(200, (await mesh.GetAsync(Url + "/")).Status);
    }

    // route.go: authority → a header matcher on :authority.
    [Fact]
    public async Task AuthorityPrefixMatch()
    {
        await using var mesh = await StartAsync(VirtualService(
            MarkedRoute("authority:\n            prefix: b.ext", 451) + "\n" + DefaultRoute));

        Assert.Equal(451, (await mesh.GetAsync(Url)).Status);
    }

    // route.go: headers.request.remove → request_headers_to_remove; response add → response_headers_to_add.
    [Fact]
    public async Task RequestHeaderRemoveAndResponseHeaderAdd()
    {
        await using var mesh = await StartAsync(VirtualService($"""
                - route:
                    - destination:
                        host: {B}
                  headers:
                    request:
                      remove:
                        - x-secret
                    response:
                      add:
                        x-served-by: mesh
            """));

        var reply = await mesh.GetAsync(Url, ("x-secret", "s3cr3t"), ("x-kept", "yes"));

        Assert.Equal(200, reply.Status);
        Assert.Empty(reply.Received.Header("x-secret"));
        Assert.Equal(["yes"], reply.Received.Header("x-kept"));
        Assert.Equal("mesh", reply.Headers["x-served-by"]);
    }

    // Envoy router: a route timeout that expires answers 504 "upstream request timeout", flag UT.
    [Fact]
    public async Task RouteTimeoutAnswers504UpstreamRequestTimeout()
    {
        await using var mesh = await StartAsync(VirtualService($"""
                - route:
                    - destination:
                        host: {B}
                  timeout: 300ms
                  retries:
                    attempts: 0
            """));
        mesh.Echo(B).Behaviour = async (context, _) =>
        {
            await Task.Delay(TimeSpan.FromSeconds(3), context.RequestAborted);
            return false;
        };

        var reply = await mesh.GetAsync(Url);

        Assert.Equal(504, reply.Status);
        Assert.Equal("upstream request timeout", reply.Body);
        Assert.Equal("UT", mesh.LastAccessLog("sidecar").Flags);
    }

    // Envoy fault filter: fixed delay on 100% — the request is held, then forwarded (flag DI).
    [Fact]
    public async Task FaultDelayHoldsTheRequestThenForwardsIt()
    {
        await using var mesh = await StartAsync(VirtualService($"""
                - route:
                    - destination:
                        host: {B}
                  fault:
                    delay:
                      fixedDelay: 1s
                      percentage:
                        value: 100
            """));

        var watch = Stopwatch.StartNew();
        var reply = await mesh.GetAsync(Url);

        Assert.Equal(200, reply.Status);
        // .NET's timers count whole milliseconds of a coarser clock than Stopwatch's: a 1 s delay can measure 999.x ms.
        Assert.InRange(watch.Elapsed, TimeSpan.FromMilliseconds(990), TimeSpan.FromSeconds(5));
        Assert.Equal("DI", mesh.LastAccessLog("sidecar").Flags);
    }

    private static string OriginateTls(string host, string subjectAltNames) => Join(
        ServiceEntry(host, (443, "HTTPS"), (80, "HTTP")),
        $"""
        apiVersion: networking.istio.io/v1
        kind: DestinationRule
        metadata:
          name: originate
        spec:
          host: {host}
          trafficPolicy:
            portLevelSettings:
              - port:
                  number: 80
                tls:
                  mode: SIMPLE
                  sni: {host}
                  subjectAltNames: [{subjectAltNames}]
        """);

    // Envoy DefaultCertValidator::dnsNameMatch: a certificate DNS SAN "*.apps.example.com" matches the expected
    // name "hello-istio-v1.apps.example.com" (one label).
    [Fact]
    public async Task TlsWildcardCertificateSanMatchesExactSubjectAltName()
    {
        const string host = "hello-istio-v1.apps.example.com";
        await using var mesh = await StartAsync(OriginateTls(host, host),
            new External(host, Tls: true, Certificate: _ => EchoUpstream.Issue(TestCa.Certificate, "*.apps.example.com")));

        var reply = await mesh.GetAsync($"http://{host}/");

        Assert.Equal(200, reply.Status);
    }

    // Envoy: an expected subjectAltNames entry equal to the certificate's wildcard SAN matches (exact string match).
    [Fact]
    public async Task TlsSubjectAltNameEqualToWildcardSanMatches()
    {
        const string host = "hello-istio-v1.apps.example.com";
        await using var mesh = await StartAsync(OriginateTls(host, "\"*.apps.example.com\""),
            new External(host, Tls: true, Certificate: _ => EchoUpstream.Issue(TestCa.Certificate, "*.apps.example.com")));

        var reply = await mesh.GetAsync($"http://{host}/");

        Assert.Equal(200, reply.Status);
    }

    // Envoy: a certificate whose SANs match none of subjectAltNames fails the handshake — 503 UF, request not sent.
    [Fact]
    public async Task TlsCertificateWithoutExpectedSanFails503UF()
    {
        const string host = "hello-istio-v1.apps.example.com";
        await using var mesh = await StartAsync(OriginateTls(host, "hello-istio-v2.apps.example.com"),
            new External(host, Tls: true));

        var reply = await mesh.GetAsync($"http://{host}/");

        Assert.Equal(503, reply.Status);
        Assert.Equal(0, mesh.Echo(host).Count);
        Assert.Contains("UF", mesh.LastAccessLog("sidecar").Flags, StringComparison.Ordinal);
    }

    private static string Outlier(string maxEjectionPercent) => Join(
        VirtualService($"""
                - route:
                    - destination:
                        host: {B}
                  retries:
                    attempts: 0
            """),
        $"""
        apiVersion: networking.istio.io/v1
        kind: DestinationRule
        metadata:
          name: outlier
        spec:
          host: {B}
          trafficPolicy:
            outlierDetection:
              consecutive5xxErrors: 2
              interval: 1s
              baseEjectionTime: 30s
        {maxEjectionPercent}
        """);

    // Envoy ≥ 1.27 (envoyproxy/envoy PR #27909) counts the host being ejected against max_ejection_percent: with
    // Istio's default 10%, the only host of a cluster is never ejected — every request still reaches it.
    [Fact]
    public async Task OutlierDetectionNeverEjectsTheOnlyHostAtDefaultMaxEjectionPercent()
    {
        await using var mesh = await StartAsync(Outlier(""));
        mesh.Echo(B).Behaviour = async (context, _) =>
        {
            context.Response.StatusCode = 503;
            await context.Response.WriteAsync("unavailable");
            return true;
        };

        for (var i = 0; i < 6; i++)
        {
            Assert.Equal(503, (await mesh.GetAsync(Url)).Status);
        }

        Assert.Equal(6, mesh.Echo(B).Count);
    }

    // Envoy: consecutive_5xx reached with maxEjectionPercent 100 ejects the host at once; the cluster then has no
    // healthy host: 503 "no healthy upstream", flag UH, without reaching it.
    [Fact]
    public async Task OutlierDetectionEjectsAfterConsecutive5xxAtMaxEjectionPercent100()
    {
        await using var mesh = await StartAsync(Outlier("      maxEjectionPercent: 100"));
        mesh.Echo(B).Behaviour = async (context, _) =>
        {
            context.Response.StatusCode = 503;
            await context.Response.WriteAsync("unavailable");
            return true;
        };

        Assert.Equal(503, (await mesh.GetAsync(Url)).Status);
        Assert.Equal(503, (await mesh.GetAsync(Url)).Status);
        var ejected = await mesh.GetAsync(Url);

        Assert.Equal(503, ejected.Status);
        Assert.Equal("no healthy upstream", ejected.Body);
        Assert.Equal("UH", mesh.LastAccessLog("sidecar").Flags);
        Assert.Equal(2, mesh.Echo(B).Count);
    }

    // Envoy connection pool: with max_connections 1 and max_pending_requests 1, one request in flight and one
    // pending, a third overflows: 503 at once, flag UO.
    [Fact]
    public async Task ConnectionPoolOverflowAnswers503UO()
    {
        await using var mesh = await StartAsync(Join(
            VirtualService($"""
                    - route:
                        - destination:
                            host: {B}
                      retries:
                        attempts: 0
                """),
            $"""
            apiVersion: networking.istio.io/v1
            kind: DestinationRule
            metadata:
              name: pool
            spec:
              host: {B}
              trafficPolicy:
                connectionPool:
                  tcp:
                    maxConnections: 1
                  http:
                    http1MaxPendingRequests: 1
            """));
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        mesh.Echo(B).Behaviour = async (_, _) =>
        {
            await release.Task;
            return false;
        };

        var first = mesh.GetAsync(Url);
        await WaitUntilAsync(() => mesh.Echo(B).Count == 1);
        var second = mesh.GetAsync(Url);
        var third = mesh.GetAsync(Url);
        // One of them waits as the pending request; the other overflows and is answered at once.
        var overflowed = await Task.WhenAny(second, third).WaitAsync(TimeSpan.FromSeconds(10));
        var pending = overflowed == second ? third : second;

        Assert.Equal(503, (await overflowed).Status);
        // The stage writes its line as it ends, which can follow the answer: wait for it (the only sidecar line so far).
        var overflowLine = mesh.LastAccessLog("sidecar");
        Assert.Equal((503, "UO"), (overflowLine.Status, overflowLine.Flags));
        Assert.False(pending.IsCompleted, "the pending request was answered before the one in flight finished");
        release.SetResult();
        Assert.Equal(200, (await first).Status);
        Assert.Equal(200, (await pending).Status);
        Assert.Equal(2, mesh.Echo(B).Count);
    }

    private static async Task WaitUntilAsync(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (!condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException("condition not met within 10 s");
            }
            await Task.Delay(20);
        }
    }
}
