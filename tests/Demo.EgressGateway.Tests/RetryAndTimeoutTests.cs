using System.Diagnostics;
using Demo.EgressGateway.Envoy;
using Demo.EgressGateway.Istio;
using Demo.EgressGateway.Mesh;
using Demo.Tests;
using RetryState = Demo.EgressGateway.Mesh.RetryState;

namespace Demo.EgressGateway.Tests;

/// <summary>Envoy's router semantics for retries, per-try timeouts, route timeouts and faults, as Istio configures them.</summary>
public sealed class RetryAndTimeoutTests
{
    // Expected bodies are Envoy's local replies, as literals: "upstream request timeout" (envoy source/common/router/router.cc,
    // Filter::onUpstreamTimeoutAbort) and "fault filter abort" (envoy source/extensions/filters/http/fault/fault_filter.cc, FaultFilter::abortWithStatus).

    private static Action<ConfigFolder> Configure(string sidecar, string? egress = null) => folder =>
    {
        folder.Write(MeshYaml.SidecarFile, sidecar);
        folder.Write(MeshYaml.EgressFile, egress ?? MeshYaml.Egress());
    };

    /// <summary>Answers <paramref name="status"/> to the first <paramref name="failures"/> requests, then falls through.</summary>
    private static Func<HttpContext, Task<bool>> FailFirst(int failures, int status = 503)
    {
        var seen = 0;
        return async context =>
        {
            if (Interlocked.Increment(ref seen) > failures)
            {
                return false;
            }
            context.Response.StatusCode = status;
            await context.Response.WriteAsync($"failure {seen}");
            return true;
        };
    }

    // At most 2: the default DestinationRules eject a CF host after 3 consecutive gateway errors (see OutlierTests).
    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public async Task An_upstream_failing_N_times_succeeds_after_N_plus_1_attempts_when_retries_allow(int failures)
    {
        await using var gateway = await GatewayHost.StartAsync(Configure(
            MeshYaml.Sidecar(100, 0, retries: MeshYaml.Retries(3, "5xx"))));
        gateway.Upstream.Behaviour = FailFirst(failures);

        var (status, body) = await gateway.GetAsync();

        Assert.Equal((200, "Hello K8s, from CF v1 service!"), (status, body));
        Assert.Equal(failures + 1, gateway.Upstream.Hits(GatewayHost.V1Host));
        Assert.Contains(gateway.Logs.Messages(), m => m.StartsWith("[sidecar]", StringComparison.Ordinal)
            && m.Contains($" 200 - attempts={failures + 1} ", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Exhausted_retries_return_the_last_response_with_flag_URX()
    {
        await using var gateway = await GatewayHost.StartAsync(Configure(
            MeshYaml.Sidecar(100, 0, retries: MeshYaml.Retries(2, "5xx"))));
        gateway.Upstream.Behaviour = FailFirst(int.MaxValue);

        var (status, body) = await gateway.GetAsync();

        Assert.Equal((503, "failure 3"), (status, body));
        Assert.Equal(3, gateway.Upstream.Hits(GatewayHost.V1Host));
        Assert.Contains(gateway.Logs.Messages(), m => m.StartsWith("[sidecar]", StringComparison.Ordinal)
            && m.Contains(" 503 URX attempts=3 ", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("5xx", 418, 1)]
    [InlineData("5xx,418", 200, 2)]
    [InlineData("retriable-4xx", 418, 1)]
    public async Task A_418_is_retried_only_when_retryOn_lists_it(string retryOn, int expectedStatus, int expectedHits)
    {
        await using var gateway = await GatewayHost.StartAsync(Configure(
            MeshYaml.Sidecar(100, 0, retries: MeshYaml.Retries(2, retryOn))));
        gateway.Upstream.Behaviour = FailFirst(1, status: 418);

        var (status, _) = await gateway.GetAsync();

        Assert.Equal(expectedStatus, status);
        Assert.Equal(expectedHits, gateway.Upstream.Hits(GatewayHost.V1Host));
    }

    [Fact]
    public async Task A_fault_injected_at_the_gateway_is_seen_and_retried_by_the_sidecar()
    {
        await using var gateway = await GatewayHost.StartAsync(Configure(
            MeshYaml.Sidecar(100, 0, retries: MeshYaml.Retries(2, "418")),
            MeshYaml.Egress(fault: MeshYaml.Abort(418, 100))));

        var (status, body) = await gateway.GetAsync();

        Assert.Equal((418, "fault filter abort"), (status, body));
        Assert.Equal(0, gateway.Upstream.TotalHits);
        var messages = gateway.Logs.Messages().ToList();
        Assert.Equal(3, messages.Count(m => m.StartsWith("[gateway]", StringComparison.Ordinal) && m.Contains(" 418 FI ", StringComparison.Ordinal)));
        Assert.Contains(messages, m => m.StartsWith("[sidecar]", StringComparison.Ordinal) && m.Contains(" 418 URX attempts=3 ", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_fault_injected_on_the_sidecar_route_is_not_retried_by_the_sidecar()
    {
        await using var gateway = await GatewayHost.StartAsync(Configure(
            MeshYaml.Sidecar(100, 0, retries: MeshYaml.Retries(3, "5xx"), fault: MeshYaml.Abort(503, 100))));

        var (status, body) = await gateway.GetAsync();

        Assert.Equal((503, "fault filter abort"), (status, body));
        Assert.Equal(0, gateway.Upstream.TotalHits);
        Assert.Contains(gateway.Logs.Messages(), m => m.StartsWith("[sidecar]", StringComparison.Ordinal) && m.Contains(" 503 FI attempts=0 ", StringComparison.Ordinal));
        Assert.Contains(gateway.Logs.Messages(LogLevel.Warning), m => m.Contains("retries and timeout never see the fault", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_3s_delay_at_the_gateway_with_a_1s_sidecar_timeout_gives_504_UT_after_about_1s()
    {
        await using var gateway = await GatewayHost.StartAsync(Configure(
            MeshYaml.Sidecar(100, 0, timeout: "1s", retries: MeshYaml.Retries(0, "5xx")),
            MeshYaml.Egress(fault: MeshYaml.Delay("3s", 100))));

        var (status, body) = await gateway.GetAsync();

        Assert.Equal((504, "upstream request timeout"), (status, body));
        // Cut by the 1 s timeout, not ended by the 3 s delay — told by the proxies, not by this test's clock (a busy
        // machine can add seconds to a first request): the sidecar's route timer ran its whole second (its own
        // access-log duration), and the gateway's request, if the try reached it before the cut (see
        // MeshAccessLog.TriesThatReachedTheGateway), ended by that reset while its delay still ran: no response, DI and DC.
        var sidecar = Assert.Single(gateway.Logs.Messages(), m => m.StartsWith("[sidecar]", StringComparison.Ordinal) && m.Contains(" 504 UT ", StringComparison.Ordinal));
        Assert.True(MeshAccessLog.Duration(sidecar) >= TimeSpan.FromMilliseconds(990), sidecar);
        var deadline = DateTime.UtcNow.AddSeconds(5);
        string? delayed;
        while ((delayed = gateway.Logs.Messages().FirstOrDefault(m => m.StartsWith("[gateway]", StringComparison.Ordinal))) is null
            && DateTime.UtcNow < deadline)
        {
            await Task.Delay(50, TestContext.Current.CancellationToken);
        }
        if (delayed is not null)
        {
            Assert.True(delayed.Contains("\" 0 ", StringComparison.Ordinal) && MeshAccessLog.Flags(delayed).Contains("DI")
                && MeshAccessLog.Flags(delayed).Contains("DC"), delayed);
        }
        Assert.Equal(0, gateway.Upstream.TotalHits);
    }

    [Fact]
    public async Task A_delay_and_an_abort_together_delay_first_then_abort()
    {
        await using var gateway = await GatewayHost.StartAsync(Configure(
            MeshYaml.Sidecar(100, 0, retries: MeshYaml.Retries(0, "5xx")),
            MeshYaml.Egress(fault: MeshYaml.Delay("400ms", 100) + MeshYaml.Abort(418, 100))));

        var (status, body) = await gateway.GetAsync();

        Assert.Equal((418, "fault filter abort"), (status, body));
        // Both faults on one request, the delay first: the gateway's own clock counts the 400 ms before its abort. (Here and
        // below, 10 ms per timer of slack: .NET's timers count whole milliseconds of a coarser clock than the access
        // log's Stopwatch, so a 400 ms delay can log 399.3 ms.)
        var line = Assert.Single(gateway.Logs.Messages(), m => m.StartsWith("[gateway]", StringComparison.Ordinal) && m.Contains(" 418 DI,FI ", StringComparison.Ordinal));
        Assert.True(MeshAccessLog.Duration(line) >= TimeSpan.FromMilliseconds(390), line);
    }

    [Fact]
    public async Task A_per_try_timeout_is_retried_on_5xx_and_the_next_attempt_succeeds()
    {
        await using var gateway = await GatewayHost.StartAsync(Configure(
            MeshYaml.Sidecar(100, 0, timeout: "5s", retries: MeshYaml.Retries(2, "5xx", perTryTimeout: "300ms"))));
        // Two answers held until both arrived open two connections on each hop: the first slow try below is the
        // upstream's, not a cold handshake's, and the retry after it finds an idle connection on both hops (the timed-out
        // try closes its own, as Envoy resets an HTTP/1.1 upstream request by closing its connection), so no TLS handshake
        // at the gateway — which the sidecar's per-try timer would count, as Envoy's does — decides the retry's fate.
        await WarmTwoConnectionsAsync(gateway);
        var seen = 0;
        gateway.Upstream.Behaviour = async context =>
        {
            if (Interlocked.Increment(ref seen) == 1)
            {
                await Task.Delay(TimeSpan.FromSeconds(10), context.RequestAborted);
            }
            return false;
        };

        var (status, _) = await gateway.GetAsync();

        Assert.Equal(200, status);
        // The second try answered after the first one's 300 ms, not after its 10 s (the sidecar's own clock).
        var line = Assert.Single(gateway.Logs.Messages(), m => m.StartsWith("[sidecar]", StringComparison.Ordinal) && m.Contains(" 200 - attempts=2 ", StringComparison.Ordinal));
        Assert.InRange(MeshAccessLog.Duration(line), TimeSpan.FromMilliseconds(290), TimeSpan.FromSeconds(10));
        Assert.Equal(4, gateway.Upstream.Hits(GatewayHost.V1Host));
    }

    [Fact]
    public async Task A_per_try_timeout_starts_when_the_connection_is_ready_so_a_slow_handshake_is_not_a_timed_out_try()
    {
        // Envoy arms the per-try timer in UpstreamRequest::onPoolReady: the gateway's 1 s TLS handshake to the upstream
        // is bounded by the cluster's connect timeout (10 s), not by the gateway route's 300 ms perTryTimeout.
        await using var gateway = await GatewayHost.StartAsync(Configure(
            MeshYaml.Sidecar(100, 0), MeshYaml.Egress(retries: MeshYaml.Retries(2, "5xx", perTryTimeout: "300ms"))));
        gateway.Upstream.HandshakeDelay = TimeSpan.FromSeconds(1);

        var stopwatch = Stopwatch.StartNew();
        var (status, body) = await gateway.GetAsync();

        Assert.Equal((200, "Hello K8s, from CF v1 service!"), (status, body));
        Assert.True(stopwatch.Elapsed >= TimeSpan.FromSeconds(1), $"answered after {stopwatch.Elapsed}, before the handshake could end");
        Assert.Equal(1, gateway.Upstream.Hits(GatewayHost.V1Host));
        Assert.Contains(gateway.Logs.Messages(), m => m.StartsWith("[gateway]", StringComparison.Ordinal)
            && m.Contains(" 200 - attempts=1 ", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_per_try_timeout_still_cuts_a_slow_answer_on_a_ready_connection()
    {
        await using var gateway = await GatewayHost.StartAsync(Configure(
            MeshYaml.Sidecar(100, 0), MeshYaml.Egress(retries: MeshYaml.Retries(1, "5xx", perTryTimeout: "300ms"))));
        gateway.Upstream.HandshakeDelay = TimeSpan.FromMilliseconds(500);
        gateway.Upstream.Behaviour = async context =>
        {
            await Task.Delay(TimeSpan.FromSeconds(5), context.RequestAborted);
            return false;
        };

        var (status, body) = await gateway.GetAsync();

        // Two tries of 300 ms each after their handshakes of 500 ms (the timed-out first try closed its connection), each
        // cut by its per-try timer (UT,URX, 2 attempts), never by the upstream's 5 s: the gateway's own clock counts both.
        Assert.Equal((504, "upstream request timeout"), (status, body));
        Assert.Equal(2, gateway.Upstream.Hits(GatewayHost.V1Host));
        var line = Assert.Single(gateway.Logs.Messages(), m => m.StartsWith("[gateway]", StringComparison.Ordinal)
            && m.Contains(" 504 UT,URX attempts=2 ", StringComparison.Ordinal));
        Assert.True(MeshAccessLog.Duration(line) >= TimeSpan.FromMilliseconds(1560), line);
    }

    private static async Task WarmTwoConnectionsAsync(GatewayHost gateway)
    {
        var arrived = 0;
        var both = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        gateway.Upstream.Behaviour = async context =>
        {
            if (Interlocked.Increment(ref arrived) == 2)
            {
                both.TrySetResult();
            }
            await both.Task.WaitAsync(TimeSpan.FromSeconds(30), context.RequestAborted);
            return false;
        };
        var answers = await Task.WhenAll(gateway.GetAsync(), gateway.GetAsync());
        Assert.All(answers, answer => Assert.Equal(200, answer.Status));
        Assert.Equal(2, gateway.Upstream.Hits(GatewayHost.V1Host));
    }

    [Fact]
    public async Task Per_try_timeouts_are_not_retried_without_a_reset_condition_and_give_504_UT()
    {
        await using var gateway = await GatewayHost.StartAsync(Configure(
            MeshYaml.Sidecar(100, 0, retries: MeshYaml.Retries(2, "connect-failure", perTryTimeout: "300ms"))));
        gateway.Upstream.Behaviour = async context =>
        {
            await Task.Delay(TimeSpan.FromSeconds(3), context.RequestAborted);
            return false;
        };

        var (status, body) = await gateway.GetAsync();

        Assert.Equal((504, "upstream request timeout"), (status, body));
        // One try only (a cold TLS handshake may eat the 300 ms before the upstream sees it): the access log counts it.
        Assert.InRange(gateway.Upstream.Hits(GatewayHost.V1Host), 0, 1);
        Assert.Contains(gateway.Logs.Messages(), m => m.StartsWith("[sidecar]", StringComparison.Ordinal)
            && m.Contains(" 504 UT attempts=1 ", StringComparison.Ordinal));
    }

    [Fact]
    public async Task The_route_timeout_bounds_all_attempts_together()
    {
        await using var gateway = await GatewayHost.StartAsync(Configure(
            MeshYaml.Sidecar(100, 0, timeout: "1s", retries: MeshYaml.Retries(20, "5xx", perTryTimeout: "400ms"))));
        // A first answer opens the TLS connection, so each try below reaches the upstream.
        Assert.Equal(200, (await gateway.GetAsync()).Status);
        gateway.Upstream.Behaviour = async context =>
        {
            await Task.Delay(TimeSpan.FromSeconds(10), context.RequestAborted);
            return false;
        };

        var stopwatch = Stopwatch.StartNew();
        var (status, _) = await gateway.GetAsync();

        // Without the route timeout, 21 tries of 400 ms would take over 8 s.
        var elapsed = stopwatch.Elapsed.TotalSeconds;
        Assert.Equal(504, status);
        Assert.True(elapsed is >= 0.9 and <= 5.0, $"answered after {elapsed:0.000} s:\n{string.Join("\n", gateway.Logs.Messages())}");
        Assert.True(gateway.Upstream.Hits(GatewayHost.V1Host) - 1 is >= 2 and <= 3, string.Join("\n", gateway.Logs.Messages()));
    }

    [Fact]
    public async Task Without_retries_Istio_retries_connect_failures_twice_but_no_status()
    {
        // Istio's default policy when a route has no retries block.
        await using var gateway = await GatewayHost.StartAsync(Configure(MeshYaml.Sidecar(100, 0)));
        gateway.Upstream.Behaviour = FailFirst(1);

        var (status, _) = await gateway.GetAsync();

        Assert.Equal(503, status);
        Assert.Equal(1, gateway.Upstream.Hits(GatewayHost.V1Host));
        // retry.go DefaultPolicy (Istio ≥ 1.24): num_retries 2, connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes, no codes.
        var istioDefault = new RetryState(IstioTranslator.ConvertRetryPolicy(null, IstioVersion.Default));
        Assert.Equal(2, istioDefault.Attempts);
        Assert.True(istioDefault.RetriesConnectFailure);
        Assert.False(istioDefault.RetriesStatus(503));
    }

    // Envoy's JitteredExponentialBackOffStrategy (source/common/common/backoff_strategy.cc): the n-th retry waits
    // uniformly in [0, base × 2^(n−1)), the bound doubling up to max_interval (10 × base): 25, 50, 100, 200, 250 ms.
    [Theory]
    [InlineData(0, 25)]
    [InlineData(1, 50)]
    [InlineData(2, 100)]
    [InlineData(3, 200)]
    [InlineData(4, 250)]
    [InlineData(10, 250)]
    public void Backoff_is_Envoys_fully_jittered_exponential_from_25ms(int retry, int boundMs)
    {
        var policy = new RetryState(IstioTranslator.ConvertRetryPolicy(null, IstioVersion.Default));
        var samples = Enumerable.Range(0, 4000).Select(_ => policy.Backoff(retry).TotalMilliseconds).ToList();

        Assert.All(samples, ms => Assert.InRange(ms, 0, boundMs));
        Assert.True(samples.Max() > 0.95 * boundMs, $"max {samples.Max():0.0} ms: the range does not reach {boundMs} ms");
        Assert.True(samples.Min() < 0.05 * boundMs, $"min {samples.Min():0.0} ms: the range does not start at 0");
        // Uniform: mean bound/2, σ of the mean bound/√(12·4000) ≈ 0.46% of the bound; 5σ.
        Assert.InRange(samples.Average(), boundMs * (0.5 - 0.023), boundMs * (0.5 + 0.023));
    }
}
