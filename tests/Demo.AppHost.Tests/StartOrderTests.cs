using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Demo.AppHost.Tests;

/// <summary>
/// The start-up of issue 11: each hop of the caller's path waits for what it forwards to (the caller also for the CF apps) (<c>--StartOrder
/// parallel</c> starts them side by side, the caller waiting for all), and a starting resource's health is noticed
/// within 100 ms of it answering rather than at Aspire's next poll.
/// </summary>
public sealed class StartOrderTests
{
    private static readonly string[] Hops = ["cf-router", "cf-v1", "cf-v2", "egress", "proxy"];

    [Fact]
    public async Task StartOrder_parallel_starts_the_hops_side_by_side_and_the_caller_waits_for_the_whole_path()
    {
        using var builder = await CreateAsync(["StartOrder=parallel"]);

        Assert.Equal(Hops, WaitsOf(builder, "caller"));
        Assert.All(Hops, hop => Assert.Empty(WaitsOf(builder, hop)));
    }

    [Fact]
    public async Task By_default_each_hop_waits_for_what_it_forwards_to_and_the_caller_for_the_apps_too()
    {
        using var builder = await CreateAsync([]);

        Assert.Equal(["cf-v1", "cf-v2", "proxy"], WaitsOf(builder, "caller"));
        Assert.Equal(["egress"], WaitsOf(builder, "proxy"));
        Assert.Equal(["cf-router"], WaitsOf(builder, "egress"));
        Assert.All(new[] { "cf-router", "cf-v1", "cf-v2" }, hop => Assert.Empty(WaitsOf(builder, hop)));
    }

    [Theory]
    [InlineData("Parallel")]
    [InlineData("side-by-side")]
    public async Task An_unknown_StartOrder_is_refused_naming_the_setting_and_value(string value)
    {
        var error = await Assert.ThrowsAnyAsync<Exception>(async () =>
        {
            using var builder = await CreateAsync([$"StartOrder={value}"]);
            using var cts = new CancellationTokenSource(TimeSpan.FromMinutes(1));
            await using var app = await builder.BuildAsync(cts.Token);
        });

        Assert.Contains($"--StartOrder '{value}' is neither chain (the default) nor parallel.", error.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_starting_resource_is_seen_healthy_in_the_same_check_run_once_it_answers()
    {
        var answers = new Queue<HealthStatus>([HealthStatus.Unhealthy, HealthStatus.Unhealthy, HealthStatus.Unhealthy, HealthStatus.Healthy]);
        var calls = 0;
        var check = new PromptHealthCheck(() => new FixedCheck(() => { calls++; return answers.Count > 1 ? answers.Dequeue() : answers.Peek(); }),
            new PromptHealthCheck.State(), TimeProvider.System);

        var result = await check.CheckHealthAsync(new HealthCheckContext());

        Assert.Equal(HealthStatus.Healthy, result.Status);
        Assert.Equal(4, calls);
    }

    [Fact]
    public async Task A_healthy_resource_that_fails_is_reported_unhealthy_at_once_and_its_recovery_waited_for()
    {
        var status = HealthStatus.Healthy;
        var calls = 0;
        var state = new PromptHealthCheck.State();
        var check = new PromptHealthCheck(() => new FixedCheck(() => { calls++; return status; }), state, TimeProvider.System);
        Assert.Equal(HealthStatus.Healthy, (await check.CheckHealthAsync(new HealthCheckContext())).Status);

        status = HealthStatus.Unhealthy;
        calls = 0;
        var started = TimeProvider.System.GetTimestamp();
        Assert.Equal(HealthStatus.Unhealthy, (await check.CheckHealthAsync(new HealthCheckContext())).Status);
        Assert.Equal(1, calls);
        Assert.True(TimeProvider.System.GetElapsedTime(started) < PromptHealthCheck.PollInterval * 5, "the failure was reported late");

        // The next run retries until the resource answers again (here: it comes back after a few polls).
        calls = 0;
        var recovery = Task.Run(async () =>
        {
            await Task.Delay(PromptHealthCheck.PollInterval * 3);
            status = HealthStatus.Healthy;
        });
        Assert.Equal(HealthStatus.Healthy, (await check.CheckHealthAsync(new HealthCheckContext())).Status);
        await recovery;
        Assert.InRange(calls, 2, 10);
    }

    [Fact]
    public async Task A_resource_that_never_answers_is_reported_unhealthy_after_the_patience()
    {
        var check = new PromptHealthCheck(() => new FixedCheck(() => HealthStatus.Unhealthy), new PromptHealthCheck.State(), TimeProvider.System,
            patience: TimeSpan.FromMilliseconds(500));
        var started = TimeProvider.System.GetTimestamp();

        Assert.Equal(HealthStatus.Unhealthy, (await check.CheckHealthAsync(new HealthCheckContext())).Status);
        Assert.InRange(TimeProvider.System.GetElapsedTime(started), TimeSpan.FromMilliseconds(350), TimeSpan.FromSeconds(5));
    }

    private static async Task<IDistributedApplicationTestingBuilder> CreateAsync(string[] arguments)
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromMinutes(1));
        return await DistributedApplicationTestingBuilder.CreateAsync<Projects.Demo_AppHost>(
            [.. arguments, "DevCertificates:Trust=false"], cts.Token);
    }

    private static string[] WaitsOf(IDistributedApplicationTestingBuilder builder, string name) =>
        [.. builder.Resources.Single(r => r.Name == name).Annotations.OfType<WaitAnnotation>()
            .Select(w => w.Resource.Name).Distinct().Order(StringComparer.Ordinal)];

    private sealed class FixedCheck(Func<HealthStatus> status) : IHealthCheck
    {
        public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default) =>
            Task.FromResult(new HealthCheckResult(status()));
    }
}
