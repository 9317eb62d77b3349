using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;

namespace Demo.EgressGateway.Tests;

/// <summary>
/// The <c>x-envoy-expected-rq-timeout-ms</c> the sidecar's router sends with each try (Envoy
/// source/common/router/router.cc): <c>FilterUtility::finalTimeout</c> ignores a per-try timeout that is &gt;= the
/// route timeout, and <c>FilterUtility::setTimeoutHeaders</c> writes the per-try timeout (else the route's) capped by
/// what is left of the route timeout — with 0 elapsed for the first try and, from <c>Filter::doRetry</c>, the time
/// since the request completed for each retry. Istio 1.24 is pinned: up to 1.24 the gateway treats the sidecar's
/// request as internal and lets the header through to the upstream (see VersionedIstioFidelityTests).
/// </summary>
public sealed class ExpectedTimeoutHeaderTests
{
    private static async Task<GatewayHost> StartAsync(string timeout, string retries) =>
        await GatewayHost.StartAsync(folder =>
        {
            folder.Write(MeshYaml.SidecarFile, MeshYaml.Sidecar(100, 0, timeout: timeout, retries: retries));
            folder.Write(MeshYaml.EgressFile, MeshYaml.Egress());
        }, settings: new() { ["EgressGateway:IstioVersion"] = "1.24" });

    /// <summary>Records each try's header; the first try waits <paramref name="firstDelay"/> and answers 503.</summary>
    private static ConcurrentQueue<long> FailFirstAfter(GatewayHost gateway, TimeSpan firstDelay)
    {
        var seen = new ConcurrentQueue<long>();
        gateway.Upstream.Behaviour = async context =>
        {
            seen.Enqueue(long.Parse(context.Request.Headers["x-envoy-expected-rq-timeout-ms"].ToString(), CultureInfo.InvariantCulture));
            if (seen.Count > 1)
            {
                return false;
            }
            await Task.Delay(firstDelay, context.RequestAborted);
            context.Response.StatusCode = 503;
            return true;
        };
        return seen;
    }

    [Fact]
    public async Task The_expected_timeout_of_a_retry_is_what_is_left_of_the_route_timeout()
    {
        await using var gateway = await StartAsync("10s", MeshYaml.Retries(2, "5xx"));
        var seen = FailFirstAfter(gateway, TimeSpan.FromSeconds(1));

        var stopwatch = Stopwatch.StartNew();
        var (status, _) = await gateway.GetAsync();
        stopwatch.Stop();

        Assert.Equal(200, status);
        Assert.Equal(2, seen.Count);
        var (first, second) = (seen.ElementAt(0), seen.ElementAt(1));
        // The first try: setTimeoutHeaders(0, …) from finalTimeout, the whole route timeout.
        Assert.Equal(10_000, first);
        // The second try: 10000 minus the time since the route timer started. That time is at least the first try's
        // 1 s wait (10 ms allowed for timer rounding) and at most this whole request as the test measured it — no
        // tighter bound, as a loaded machine may add seconds anywhere in between.
        Assert.InRange(second, first - (long)stopwatch.Elapsed.TotalMilliseconds, first - 990);
    }

    [Fact]
    public async Task The_expected_timeout_of_a_retry_is_the_per_try_timeout_while_more_of_the_route_timeout_is_left()
    {
        await using var gateway = await StartAsync("30s", MeshYaml.Retries(2, "5xx", perTryTimeout: "5s"));
        var seen = FailFirstAfter(gateway, TimeSpan.FromMilliseconds(200));

        Assert.Equal(200, (await gateway.GetAsync()).Status);

        // min(5000, 30000 − elapsed): 5000 unless the retry started more than 25 s late.
        Assert.Equal([5_000, 5_000], seen);
    }

    // finalTimeout: "See if there is a per try/retry timeout. If it's >= global we just ignore it." The route
    // timeout is then each try's expected timeout, and a slow first try is cut by the route timeout alone
    // (upstream_response_timeout, no retry), not by a per-try timeout.
    [Theory]
    [InlineData("2s", "2s")]
    [InlineData("2s", "3s")]
    public async Task A_per_try_timeout_not_shorter_than_the_route_timeout_is_ignored(string timeout, string perTryTimeout)
    {
        await using var gateway = await StartAsync(timeout, MeshYaml.Retries(2, "5xx", perTryTimeout: perTryTimeout));
        // A first answer opens the TLS connection, so the slow try below reaches the upstream within the 2 s.
        Assert.Equal(200, (await gateway.GetAsync()).Status);
        var seen = new ConcurrentQueue<string>();
        gateway.Upstream.Behaviour = async context =>
        {
            seen.Enqueue(context.Request.Headers["x-envoy-expected-rq-timeout-ms"].ToString());
            await Task.Delay(TimeSpan.FromSeconds(30), context.RequestAborted);
            return false;
        };

        var (status, _) = await gateway.GetAsync();

        Assert.Equal(504, status);
        Assert.Equal(["2000"], seen);
        Assert.Contains(gateway.Logs.Messages(), m => m.StartsWith("[sidecar]", StringComparison.Ordinal)
            && m.Contains(" 504 UT attempts=1 ", StringComparison.Ordinal));
    }
}
