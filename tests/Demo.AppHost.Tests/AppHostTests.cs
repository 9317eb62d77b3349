using System.Text.RegularExpressions;
using Xunit.Abstractions;

namespace Demo.AppHost.Tests;

/// <summary>
/// The real AppHost, started once: the demo end to end (issue 2), then faults survived and nothing lost (issue 6).
/// The steps share the caller's history, so they run in order; each one first brings every resource back to healthy.
/// </summary>
[TestCaseOrderer(StepOrderer.TypeName, StepOrderer.AssemblyName)]
public sealed partial class AppHostTests(AppHostFixture fixture, ITestOutputHelper output) : IClassFixture<AppHostFixture>
{
    private const string UpstreamFailurePrefix = "upstream connect error or disconnect/reset before headers";
    private const string NoHealthyUpstream = "no healthy upstream";
    private const string RoutesFile = "virtual-service-hello.yaml";
    private const string V1OnlyScenario = "scenarios/virtual-service-hello-v1-only.yaml";
    private const string V2DestinationRuleFile = "destination-rule-hello-istio-v2.yaml";
    private static readonly TimeSpan StepTimeout = TimeSpan.FromMinutes(2);
    private static readonly TimeSpan TicksPerSecond = TimeSpan.FromSeconds(1) / AppHostFixture.CallerInterval.TotalSeconds;

    [Fact, Step(1)]
    public async Task Caller_prints_v1_v2_and_fault_lines_in_the_demo_format()
    {
        using var cts = new CancellationTokenSource(StepTimeout);
        foreach (var name in AppHostFixture.ResourceNames)
        {
            var state = fixture.State(name).Snapshot;
            Assert.True(AppHostFixture.IsRunningAndHealthy(fixture.State(name)), $"{name} is {state.State?.Text} ({state.HealthStatus})");
        }

        var caller = await fixture.WaitForCallerAsync(
            c => c.Lines.Any(l => l.Outcome == Outcome.V1) && c.Lines.Any(l => l.Outcome == Outcome.V2) && c.Lines.Any(l => l.Outcome == Outcome.Fault),
            TimeSpan.FromSeconds(60), "v1, v2 and fault filter abort lines", cts.Token);

        Assert.Empty(caller.Malformed);
        Assert.All(caller.Lines, l => Assert.True(CallerConsole.IsInDemoFormat($"{l.Timestamp}\t{l.Body}")));
        Assert.Contains(caller.Lines, l => l.Body == CallerLine.V1Body);
        Assert.Contains(caller.Lines, l => l.Body == CallerLine.V2Body);
        Assert.Contains(caller.Lines, l => l.Body == CallerLine.FaultBody);
        Assert.DoesNotContain(caller.Lines, l => l.Outcome == Outcome.Failure);
        output.WriteLine($"{Tally(caller.Lines)}, {fixture.SinceStart.Elapsed.TotalSeconds:0.0} s after all five were healthy");
    }

    [Fact, Step(2)]
    public async Task Cf_v2_stopped_mid_run_fails_its_share_until_v1_only_is_applied_and_answers_again_once_restarted()
    {
        using var cts = new CancellationTokenSource(StepTimeout);
        var ct = cts.Token;
        await fixture.EnsureAllHealthyAsync(ct);
        var pids = fixture.ProcessIds();
        var routeTimeout = RouteTimeout(fixture.ReadIstioFile(RoutesFile));
        var egressMark = (await fixture.GetEgressAsync(ct)).Access.LastOrDefault()?.Number ?? -1;
        var ejects = fixture.ReadIstioFile(V2DestinationRuleFile).Contains("outlierDetection:", StringComparison.Ordinal);

        await fixture.ExecuteCommandAsync("cf-v2", KnownResourceCommands.StopCommand, ct);
        await fixture.WaitForStateAsync("cf-v2", s => s.Snapshot.State?.Text is { } text && KnownResourceStates.TerminalStates.Contains(text),
            TimeSpan.FromSeconds(60), ct);
        var outageFrom = NextWholeSecond(DateTimeOffset.Now);

        var outage = await fixture.WaitForCallerAsync(c => c.TickedFrom(outageFrom).Count() >= 32,
            TimeSpan.FromSeconds(30), "32 ticks with cf-v2 stopped", ct);
        var egress = ejects
            ? await fixture.WaitForEgressAsync(e => e.Access.Any(a => a.Number > egressMark && a.Status == 503 && a.Flags.Contains("UH")),
                TimeSpan.FromSeconds(30), "503 UH once cf-v2 is ejected", ct)
            : await fixture.GetEgressAsync(ct);

        var during = outage.TickedFrom(outageFrom).ToList();
        output.WriteLine($"cf-v2 stopped: {Tally(during)}; failures: {string.Join(" | ", during.Where(l => l.Outcome == Outcome.Failure).Select(l => l.Body[..Math.Min(l.Body.Length, 60)]).Distinct())}");
        Assert.DoesNotContain(during, l => l.Outcome == Outcome.V2);
        Assert.All(during.Where(l => l.Outcome == Outcome.Failure), l =>
            Assert.True(l.Body.StartsWith(UpstreamFailurePrefix, StringComparison.Ordinal) || l.Body == NoHealthyUpstream, l.ToString()));
        // 50/50 weights, 10% faults: ~45% v1, ~45% failures. The bounds are more than 3 standard deviations wide at n >= 32;
        // a gateway that failed v2's share over to v1 would push v1 towards 90%.
        AssertShare(during, Outcome.V1, 0.15, 0.75);
        AssertShare(during, Outcome.Failure, 0.15, 0.75);

        var failures = egress.Access.Where(a => a.Number > egressMark && a.Status == 503).ToList();
        output.WriteLine("egress 503s: " + string.Join(", ", failures.CountBy(a => $"{a.Stage} {string.Join(',', a.Flags.Order())}").Select(f => $"{f.Key} ×{f.Value}")));
        // As with Envoy: the gateway's route (Istio's default retry policy) retries the refused connection and gives up
        // (UF,URX); the sidecar retries that 503 (retryOn 5xx) and gives up too (URX); with outlierDetection, UH once ejected.
        Assert.Contains(failures, a => a.Stage == "gateway" && a.Flags.Contains("UF") && a.Flags.Contains("URX"));
        Assert.Contains(failures, a => a.Stage == "sidecar" && a.Flags.Contains("URX"));
        if (ejects)
        {
            Assert.Contains(failures, a => a.Flags.Contains("UH"));
        }

        var original = fixture.ReadIstioFile(RoutesFile);
        var applied = egress.Applied.Count;
        try
        {
            fixture.WriteIstioFile(RoutesFile, fixture.ReadIstioFile(V1OnlyScenario));
            egress = await fixture.WaitForEgressAsync(e => e.Applied.Count > applied, TimeSpan.FromSeconds(15), "the v1-only routes applied", ct);
            applied = egress.Applied.Count;
            var calmFrom = NextWholeSecond(egress.Applied[^1].At ?? DateTimeOffset.Now).AddSeconds(1);
            var calm = await fixture.WaitForCallerAsync(c => c.TickedFrom(calmFrom).Count() >= 12,
                TimeSpan.FromSeconds(20), "12 ticks after v1-only was applied", ct);
            Assert.All(calm.TickedFrom(calmFrom), l => Assert.True(l.Outcome is Outcome.V1 or Outcome.Fault, l.ToString()));

            await fixture.ExecuteCommandAsync("cf-v2", KnownResourceCommands.StartCommand, ct);
            await fixture.WaitForStateAsync("cf-v2", s => AppHostFixture.IsRunningAndHealthy(s) && AppHostFixture.ProcessId(s) != pids["cf-v2"],
                TimeSpan.FromSeconds(60), ct);
        }
        finally
        {
            fixture.WriteIstioFile(RoutesFile, original);
        }
        egress = await fixture.WaitForEgressAsync(e => e.Applied.Count > applied, TimeSpan.FromSeconds(15), "the 50/50 routes applied again", ct);
        var backFrom = NextWholeSecond(egress.Applied[^1].At ?? DateTimeOffset.Now);
        // The outlier ejection (baseEjectionTime in the DestinationRule) may still be running when v2 is back.
        await fixture.WaitForCallerAsync(c => c.TickedFrom(backFrom).Any(l => l.Outcome == Outcome.V2),
            TimeSpan.FromSeconds(60), "a v2 answer after cf-v2 restarted", ct);

        // Through the outage, the reloads and the restart: one line per tick, none later than the route timeout
        // (plus the tick's truncation to whole seconds and the log's own delay).
        var whole = await WaitForEveryTickPrintedAsync(outageFrom, backFrom, ct);
        var window = whole.Lines.Where(l => l.Tick >= outageFrom && l.Tick < backFrom).ToList();
        output.WriteLine($"stop to v2 back: {Tally(window)}, slowest line {window.Max(l => l.Latency)?.TotalSeconds:0.0} s after its tick");
        Assert.All(window, l => Assert.True(l.Latency <= routeTimeout + TimeSpan.FromSeconds(2),
            $"{l} appeared {l.Latency?.TotalSeconds:0.0} s after its tick (route timeout {routeTimeout.TotalSeconds} s)"));

        var now = fixture.ProcessIds();
        Assert.NotEqual(pids["cf-v2"], now["cf-v2"]);
        foreach (var name in AppHostFixture.ResourceNames.Where(n => n != "cf-v2"))
        {
            Assert.True(pids[name] == now[name], $"{name} restarted: process {pids[name]} became {now[name]}");
        }
    }

    [Fact, Step(3)]
    public Task Proxy_down_caller_prints_errors_and_recovers_by_itself_once_it_is_back() => StopAndRecoverAsync("proxy");

    [Fact, Step(4)]
    public Task Egress_gateway_down_caller_prints_errors_and_recovers_by_itself_once_it_is_back() => StopAndRecoverAsync("egress");

    [Fact, Step(5)]
    public async Task Every_tick_produces_exactly_one_line_through_faults_and_restarts()
    {
        using var cts = new CancellationTokenSource(StepTimeout);
        var ct = cts.Token;
        if (!(await fixture.GetCallerAsync(ct)).Lines.Any(l => l.Outcome == Outcome.Failure))
        {
            // Run on its own: make a fault to count through.
            await StopAndRecoverAsync("egress");
        }

        var snapshot = await fixture.GetCallerAsync(ct);
        Assert.NotEmpty(snapshot.Ticks);
        Assert.Equal(Enumerable.Range(1, snapshot.Ticks.Count).Select(i => (long)i), snapshot.Ticks.Select(t => t.Sequence));
        var before = snapshot.Ticks[^1].Tick;

        var final = await WaitForEveryTickPrintedAsync(DateTimeOffset.MinValue, before, ct);
        Assert.Empty(final.Malformed);
        Assert.Contains(final.Lines, l => l.Outcome == Outcome.Failure);

        // Ticks themselves are not skipped: PeriodicTimer only coalesces ticks when the loop is stalled for longer
        // than an interval, so over the run the count stays close to elapsed time / interval (whole-second timestamps: ±1 s).
        var span = (before - snapshot.Ticks[0].Tick).TotalSeconds;
        var ticks = snapshot.Ticks.Count(t => t.Tick < before);
        output.WriteLine($"{ticks} ticks in {span:0} s, {final.Lines.Count(l => l.Tick < before)} lines for them; whole run: {Tally(final.Lines)}");
        Assert.InRange(ticks, (int)(0.8 * (span - 1) * TicksPerSecond.TotalSeconds), (int)Math.Ceiling((span + 1) * TicksPerSecond.TotalSeconds) + 1);
    }

    /// <summary>
    /// Stops a resource until the caller has printed an error for it, then starts it again. (Aspire's restart command
    /// alone is too quick to show errors: DCP's proxy in front of the resource holds the calls until it is back.)
    /// </summary>
    private async Task StopAndRecoverAsync(string name)
    {
        using var cts = new CancellationTokenSource(StepTimeout);
        var ct = cts.Token;
        await fixture.EnsureAllHealthyAsync(ct);
        var pids = fixture.ProcessIds();

        await fixture.ExecuteCommandAsync(name, KnownResourceCommands.StopCommand, ct);
        await fixture.WaitForStateAsync(name, s => s.Snapshot.State?.Text is { } text && KnownResourceStates.TerminalStates.Contains(text),
            TimeSpan.FromSeconds(60), ct);
        var downFrom = NextWholeSecond(DateTimeOffset.Now);
        await fixture.WaitForCallerAsync(c => c.TickedFrom(downFrom).Any(l => l.Outcome == Outcome.Failure),
            TimeSpan.FromSeconds(30), $"an error line while {name} is down", ct);

        await fixture.ExecuteCommandAsync(name, KnownResourceCommands.StartCommand, ct);
        await fixture.WaitForStateAsync(name, s => AppHostFixture.IsRunningAndHealthy(s) && AppHostFixture.ProcessId(s) != pids[name],
            TimeSpan.FromSeconds(60), ct);
        var upFrom = NextWholeSecond(DateTimeOffset.Now).AddSeconds(1);

        var caller = await fixture.WaitForCallerAsync(c => c.TickedFrom(upFrom).Count() >= 12,
            TimeSpan.FromSeconds(30), $"12 ticks after {name} is back", ct);
        var down = caller.Lines.Where(l => l.Tick >= downFrom && l.Tick < upFrom).ToList();
        output.WriteLine($"{name} down: {Tally(down)}; failures: {string.Join(" | ", down.Where(l => l.Outcome == Outcome.Failure).Select(l => l.Body[..Math.Min(l.Body.Length, 100)]).Distinct())}");
        Assert.All(caller.TickedFrom(upFrom), l => Assert.True(l.Outcome is not Outcome.Failure, $"not recovered: {l}"));
        Assert.All(caller.Lines.Where(l => l.Tick >= downFrom && l.Tick < upFrom && l.Outcome == Outcome.Failure),
            l => Assert.DoesNotContain("no answer within", l.Body, StringComparison.Ordinal));
        Assert.Empty(caller.Malformed);

        var now = fixture.ProcessIds();
        foreach (var other in AppHostFixture.ResourceNames.Where(n => n != name))
        {
            Assert.True(pids[other] == now[other], $"{other} restarted: process {pids[other]} became {now[other]}");
        }
    }

    /// <summary>
    /// Per whole second of tick time in [from, before): as many printed lines as logged ticks. A tick's line may come up to
    /// the caller's request timeout (10 s) after the tick, so this waits a little for the last ones.
    /// </summary>
    private async Task<CallerConsole> WaitForEveryTickPrintedAsync(DateTimeOffset from, DateTimeOffset before, CancellationToken cancellationToken)
    {
        var caller = await AppHostFixture.WaitUntilAsync(fixture.GetCallerAsync, c => Mismatches(c).Count == 0, TimeSpan.FromSeconds(15),
            c => "ticks and lines differ:" + Environment.NewLine + string.Join(Environment.NewLine, Mismatches(c)), cancellationToken);
        Assert.Contains(caller.Ticks, t => t.Tick >= from && t.Tick < before);
        return caller;

        List<string> Mismatches(CallerConsole c)
        {
            var ticks = c.Ticks.Where(t => t.Tick >= from && t.Tick < before).CountBy(t => t.Tick).ToDictionary();
            var lines = c.Lines.Where(l => l.Tick >= from && l.Tick < before).CountBy(l => l.Tick).ToDictionary();
            return ticks.Keys.Union(lines.Keys).Order()
                .Select(second => (second, ticks: ticks.GetValueOrDefault(second), lines: lines.GetValueOrDefault(second)))
                .Where(m => m.ticks != m.lines)
                .Select(m => $"{m.second:O}: {m.ticks} ticks, {m.lines} lines")
                .ToList();
        }
    }

    private static void AssertShare(IReadOnlyCollection<CallerLine> lines, Outcome outcome, double min, double max)
    {
        var share = (double)lines.Count(l => l.Outcome == outcome) / lines.Count;
        Assert.True(share >= min && share <= max,
            $"{outcome} is {share:P0} of {lines.Count} lines, expected {min:P0}–{max:P0}:{Environment.NewLine}{string.Join(Environment.NewLine, lines)}");
    }

    private static string Tally(IEnumerable<CallerLine> lines)
    {
        var list = lines.ToList();
        return $"{list.Count} lines (" + string.Join(", ", list.CountBy(l => l.Outcome).OrderBy(c => c.Key).Select(c => $"{c.Key} {c.Value}")) + ")";
    }

    private static DateTimeOffset NextWholeSecond(DateTimeOffset time) =>
        new DateTimeOffset(time.Ticks - time.Ticks % TimeSpan.TicksPerSecond, time.Offset).AddSeconds(1);

    private static TimeSpan RouteTimeout(string routesYaml) =>
        TimeSpan.FromSeconds(int.Parse(TimeoutField().Match(routesYaml).Groups["seconds"].Value, System.Globalization.CultureInfo.InvariantCulture));

    [GeneratedRegex(@"^\s+timeout: (?<seconds>\d+)s\s*$", RegexOptions.Multiline)]
    private static partial Regex TimeoutField();
}
