using System.Text.RegularExpressions;

namespace Demo.AppHost.Tests;

/// <summary>
/// The real AppHost, started once with two instances per CF app: the demo end to end through the local CF router
/// (issue 2), the Cloud Foundry failure stories — an app stopped (<c>cf stop</c>), one instance of two stopped, the
/// router (the platform) down — (issue 9), then faults survived and nothing lost (issue 6). The steps share the
/// caller's history, so they run in order; each one first brings every resource back to healthy.
/// </summary>
[Collection(AppHostCollection.Name)]
[TestMethodOrderer(typeof(StepOrderer))]
public sealed partial class AppHostTests(AppHostFixture fixture, ITestOutputHelper output) : IAsyncLifetime
{
    private const string V2UnknownRoute = "404 Not Found: Requested route ('hello-istio-v2.apps.example.com') does not exist.";
    private const string UpstreamFailurePrefix = "upstream connect error or disconnect/reset before headers";
    private const string NoHealthyUpstream = "no healthy upstream";
    private const string RoutesFile = "virtual-service-hello.yaml";
    private const string V1OnlyScenario = "scenarios/virtual-service-hello-v1-only.yaml";
    private const string V2DestinationRuleFile = "destination-rule-hello-istio-v2.yaml";
    private static readonly TimeSpan StepTimeout = TimeSpan.FromMinutes(2);
    private static readonly TimeSpan TicksPerSecond = TimeSpan.FromSeconds(1) / AppHostFixture.CallerInterval.TotalSeconds;

    private Demo.Tests.HeavySection? _section;

    /// <summary>Each story times what the app does (within a second, an order of events): not beside a soak elsewhere in the suite.</summary>
    public async ValueTask InitializeAsync() => _section = await Demo.Tests.HeavySection.EnterSharedAsync("AppHost story");

    public ValueTask DisposeAsync()
    {
        _section?.Dispose();
        return ValueTask.CompletedTask;
    }

    [Fact, Step(1)]
    public async Task Caller_prints_v1_v2_and_fault_lines_in_the_demo_format()
    {
        using var cts = new CancellationTokenSource(StepTimeout);
        foreach (var id in AppHostFixture.ResourceNames.SelectMany(fixture.InstanceIds))
        {
            var state = fixture.State(id).Snapshot;
            Assert.True(AppHostFixture.IsRunningAndHealthy(fixture.State(id)), $"{id} is {state.State?.Text} ({state.HealthStatus})");
        }
        Assert.Equal(AppHostFixture.CfInstances, fixture.InstanceIds("cf-v1").Count);
        Assert.Equal(AppHostFixture.CfInstances, fixture.InstanceIds("cf-v2").Count);

        var caller = await fixture.WaitForCallerAsync(
            c => c.Lines.Any(l => l.Outcome == Outcome.V1) && c.Lines.Any(l => l.Outcome == Outcome.V2) && c.Lines.Any(l => l.Outcome == Outcome.Fault),
            TimeSpan.FromSeconds(60), "v1, v2 and fault filter abort lines", cts.Token);

        Assert.Empty(caller.Malformed);
        // As `kubectl logs deploy/traffic -f` shows the seed's caller: its lines, no informational records (the host's
        // start-up, the tick records: those go to the dashboard); only the worker's log, which the fixture switches on.
        var console = await fixture.GetInstancesConsoleAsync("caller", cts.Token);
        Assert.DoesNotContain(console, l => l.Text.StartsWith("info: ", StringComparison.Ordinal)
            && !l.Text.StartsWith("info: Demo.Caller.CallerWorker", StringComparison.Ordinal));
        Assert.Contains(console, l => l.Text.StartsWith("dbug: Demo.Caller.CallerWorker", StringComparison.Ordinal));
        Assert.All(caller.Lines, l => Assert.True(CallerConsole.IsInDemoFormat($"{l.Timestamp}\t{l.Body}")));
        Assert.Contains(caller.Lines, l => l.Body == CallerLine.V1Body);
        Assert.Contains(caller.Lines, l => l.Body == CallerLine.V2Body);
        Assert.Contains(caller.Lines, l => l.Body == CallerLine.FaultBody);
        var failures = caller.Lines.Where(l => l.Outcome == Outcome.Failure).ToList();
        Assert.True(failures.Count == 0, $"{failures.Count} failed lines, the first: {string.Join(" | ", failures.Take(5))}"
            + Environment.NewLine + await fixture.DescribeChainAsync(cts.Token));
        output.WriteLine($"{Tally(caller.Lines)}, {fixture.SinceStart.Elapsed.TotalSeconds:0.0} s after all were healthy");
        output.WriteLine("caller: " + string.Join(" | ", caller.Lines.TakeLast(3)));

        // Every answer went through the router, round-robin over both instances of each app, with gorouter's headers.
        string[] hosts = ["hello-istio-v1.apps.example.com", "hello-istio-v2.apps.example.com"];
        // Round-robin over the instances registered (gorouter routes to an instance once it registered; a healthy
        // instance may still be registering on a loaded machine): once every instance of a host is in the router's
        // console, the requests it starts next go to every instance in turn. An access line is written when its request
        // ends, and a cold instance's first request may still be running when a warm one has answered several: so wait
        // (bounded) until every instance has a line, then check the first 2 × instances requests by the router's start
        // time, which is the order its round-robin picked them in.
        RouterConsole router;
        try
        {
            router = await AppHostFixture.WaitUntilAsync(fixture.GetRouterAsync,
                r => hosts.All(h => AnswersOnceAllRegistered(r, h).Count() >= 2 * AppHostFixture.CfInstances
                    && AnswersOnceAllRegistered(r, h).Select(a => a.Backend).Distinct().Count() >= AppHostFixture.CfInstances),
                TimeSpan.FromSeconds(30), r => $"{r.Access.Count} router access-log lines", cts.Token);
        }
        catch (TimeoutException)
        {
            // The assertion below says which host and prints the router's lines for it.
            router = await fixture.GetRouterAsync(cts.Token);
        }
        foreach (var host in hosts)
        {
            var backends = AnswersOnceAllRegistered(router, host).OrderBy(a => a.StartedAt).Take(2 * AppHostFixture.CfInstances)
                .Select(a => a.Backend).Distinct().ToList();
            Assert.True(backends.Count == AppHostFixture.CfInstances, $"{host} answered by [{string.Join(", ", backends)}]; the router's console for it:"
                + string.Concat(router.Registrations.Where(r => r.Text.Contains($" {host} ", StringComparison.Ordinal)).Select(r => $"{Environment.NewLine}  #{r.Number} {r.Text}"))
                + string.Concat(router.Access.Where(a => a.Host == host).Take(30).Select(a => $"{Environment.NewLine}  #{a.Number} {a.Status} backend {a.Backend} attempts {a.Attempts} error {a.RouterError} started {a.StartedAt:HH:mm:ss.fff}")));
            // CF_INSTANCE_INDEX as Diego numbers instances: 0 … n−1, in gorouter's app_index.
            var indexes = AnswersOnceAllRegistered(router, host).Select(a => a.AppIndex).Distinct().Order(StringComparer.Ordinal);
            Assert.Equal(Enumerable.Range(0, AppHostFixture.CfInstances).Select(i => i.ToString(System.Globalization.CultureInfo.InvariantCulture)), indexes);
        }
        output.WriteLine("router: " + router.Access.First(a => a.Status == 200).Text);
        var app = (await fixture.GetInstancesConsoleAsync("cf-v1", cts.Token)).Select(l => l.Text.Trim())
            .Where(t => t.StartsWith("hello-istio-v1.apps.example.com \"GET /\" 200", StringComparison.Ordinal)).ToList();
        Assert.NotEmpty(app);
        output.WriteLine("cf-v1: " + app[^1]);
        Assert.All(app, line => Assert.Matches(
            @"vcap_request_id:""[0-9a-f-]{36}"" x_forwarded_for:""127\.0\.0\.1, 127\.0\.0\.1"" x_forwarded_proto:""https"" x_request_start:""\d{13}"" traceid:""[0-9a-f]{32}""", line));
        var traced = router.Access.Where(a => a.Status == 200 && a.Host == "hello-istio-v1.apps.example.com").Select(a => a.TraceId).ToHashSet();
        Assert.Contains(app, line => traced.Any(t => line.Contains(t, StringComparison.Ordinal)));
    }

    // A host's requests the router routed to an instance (any status: a cold instance's first answer may come after the
    // mesh's per-try timeout, 499 in gorouter's log) logged after the registration of its last instance.
    private static IEnumerable<RouterAccessEntry> AnswersOnceAllRegistered(RouterConsole router, string host)
    {
        var registered = router.Registrations
            .Where(r => r.Text.StartsWith("Registered ", StringComparison.Ordinal) && r.Text.Contains($" for route {host} ", StringComparison.Ordinal)).ToList();
        if (registered.Count < AppHostFixture.CfInstances)
        {
            return [];
        }
        var since = registered.Max(r => r.Number);
        return router.Access.Where(a => a.Number > since && a.Host == host && a.Backend != "-");
    }

    [Fact, Step(2)]
    public async Task Cf_v2_stopped_is_cf_stop_its_share_prints_404_unknown_route_without_ejection_and_v2_answers_once_started()
    {
        using var cts = new CancellationTokenSource(StepTimeout);
        var ct = cts.Token;
        await fixture.EnsureAllHealthyAsync(ct);
        var pids = fixture.ProcessIds();
        var routeTimeout = RouteTimeout(fixture.ReadIstioFile(RoutesFile));
        var egressMark = (await fixture.GetEgressAsync(ct)).Access.LastOrDefault()?.Number ?? -1;
        var routerMark = (await fixture.GetRouterAsync(ct)).Access.Count;

        var stopping = DateTimeOffset.Now;
        await fixture.StopAsync("cf-v2", ct);
        var stopped = DateTimeOffset.Now;
        output.WriteLine($"cf-v2 (both instances) stopped in {(stopped - stopping).TotalSeconds:0.0} s");
        var outageFrom = NextWholeSecond(stopped);

        var outage = await fixture.WaitForCallerAsync(c => c.TickedFrom(outageFrom).Count() >= 32,
            TimeSpan.FromSeconds(30), "32 ticks with cf-v2 stopped", ct);
        var during = outage.TickedFrom(outageFrom).ToList();
        output.WriteLine($"cf-v2 stopped: {Tally(during)}; caller lines:{Environment.NewLine}{Examples(during)}");
        Assert.DoesNotContain(during, l => l.Outcome == Outcome.V2);
        // Cloud Foundry: the route has no instance, so gorouter answers 404 unknown_route, and the caller prints it.
        Assert.All(during.Where(l => l.Outcome == Outcome.Failure), l => Assert.Equal(V2UnknownRoute, l.Body));
        AssertShare(during, Outcome.V1, 0.15, 0.75);
        AssertShare(during, Outcome.Failure, 0.15, 0.75);
        // It shows as soon as the route is gone: the instances unregister as their stop begins, before they stop serving,
        // so nothing in between fails otherwise, and from then on the router answers every request for v2 with 404.
        // That is asserted on the router's own clock (the start time of each request in its access log): every v2
        // request it received from its first 404 on was a 404, every one before it a 200.
        // How long after the stop command the instances unregister is DCP's (it signals the processes; 1.1–1.9 s on a
        // loaded machine), and when the next v2 request comes is the caller's weighted pick: both printed, neither bounded.
        var firstUnknown = outage.Lines.First(l => l.Body == V2UnknownRoute);
        var routerNow = await AppHostFixture.WaitUntilAsync(fixture.GetRouterAsync,
            r => r.Access.Skip(routerMark).Any(a => a.Host == "hello-istio-v2.apps.example.com" && a.RouterError == "unknown_route"),
            TimeSpan.FromSeconds(15), r => $"{r.Access.Count} router access-log lines", ct);
        var unregistered = routerNow.Registrations
            .Where(r => r.Text.StartsWith("Unregistered", StringComparison.Ordinal) && r.Text.Contains("hello-istio-v2", StringComparison.Ordinal) && r.CapturedAt >= stopping).ToList();
        output.WriteLine("router unregistrations: " + string.Join(" | ", unregistered.Select(r => $"{(r.CapturedAt - stopping)?.TotalSeconds:0.00} s: {r.Text}")));
        var firstRouter404 = routerNow.Access.Skip(routerMark).First(a => a.Host == "hello-istio-v2.apps.example.com" && a.RouterError == "unknown_route");
        output.WriteLine($"router's first 404 unknown_route for v2: {(firstRouter404.StartedAt - stopping).TotalSeconds:0.00} s after the stop command: {firstRouter404.Text}");
        output.WriteLine($"first 404 line: {firstUnknown}, captured {(firstUnknown.CapturedAt - stopping)?.TotalSeconds:0.00} s after the stop command");
        Assert.Equal(AppHostFixture.CfInstances, unregistered.Count);
        Assert.True(firstRouter404.Number > unregistered.Min(r => r.Number), $"a 404 before any instance unregistered: {firstRouter404.Text}");
        var v2 = routerNow.Access.Skip(routerMark).Where(a => a.Host == "hello-istio-v2.apps.example.com").ToList();
        Assert.All(v2.Where(a => a.StartedAt >= firstRouter404.StartedAt),
            a => Assert.True(a.Status == 404 && a.RouterError == "unknown_route", $"after the route was gone: {a.Text}"));
        Assert.All(v2.Where(a => a.StartedAt < firstRouter404.StartedAt), a => Assert.True(a.Status == 200, $"while v2 was stopping: {a.Text}"));
        Assert.All(outage.Lines.Where(l => l.Tick >= NextWholeSecond(stopping).AddSeconds(-1)), l =>
            Assert.True(l.Outcome is not Outcome.Failure || l.Body == V2UnknownRoute, l.ToString()));

        var egress = await fixture.GetEgressAsync(ct);
        var since = egress.Access.Where(a => a.Number > egressMark).ToList();
        output.WriteLine("egress since the stop: " + string.Join(", ", since.CountBy(a => $"{a.Stage} {a.Status} {string.Join(',', a.Flags.Order())}").Select(f => $"{f.Key} ×{f.Value}")));
        // A 404 is an answer, not a gateway error: no retry, no outlier ejection, no 5xx anywhere.
        Assert.Contains(since, a => a.Stage == "gateway" && a.Status == 404 && a.Flags.Count == 0);
        Assert.DoesNotContain(since, a => a.Flags.Contains("UH") || a.Status >= 500);
        var router = await fixture.GetRouterAsync(ct);
        // The instances left the route before they stopped serving: no request met a closed port (502 endpoint_failure).
        Assert.DoesNotContain(router.Access.Skip(routerMark), a => a.Status >= 500);
        var unknown = router.Access.Where(a => a.Status == 404).ToList();
        Assert.Contains(unknown, a => a.Host == "hello-istio-v2.apps.example.com" && a.RouterError == "unknown_route" && a.Backend == "-");
        output.WriteLine("router: " + unknown[^1].Text);

        // Istio's metrics count the 404s as v2's answers at the gateway, with no response flag.
        var metrics = await fixture.GetEgressAdminAsync("/stats/prometheus", ct);
        var notFound = metrics.Split('\n').Where(l => l.StartsWith("istio_requests_total{", StringComparison.Ordinal)
            && l.Contains("source_workload=\"istio-egressgateway\"", StringComparison.Ordinal)
            && l.Contains("destination_service=\"hello-istio-v2.apps.example.com\"", StringComparison.Ordinal)
            && l.Contains("response_code=\"404\"", StringComparison.Ordinal)).ToList();
        output.WriteLine("egress metrics: " + string.Join(" | ", notFound));
        Assert.Contains(notFound, l => l.Contains("response_flags=\"-\"", StringComparison.Ordinal));

        // Shifting the traffic away (the v1-only scenario, hot-reloaded) ends the 404s; shifting it back with cf-v2
        // still stopped brings them back.
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
        }
        finally
        {
            fixture.WriteIstioFile(RoutesFile, original);
        }
        egress = await fixture.WaitForEgressAsync(e => e.Applied.Count > applied, TimeSpan.FromSeconds(15), "the 50/50 routes applied again", ct);
        var againFrom = NextWholeSecond(egress.Applied[^1].At ?? DateTimeOffset.Now).AddSeconds(1);
        await fixture.WaitForCallerAsync(c => c.TickedFrom(againFrom).Any(l => l.Body == V2UnknownRoute),
            TimeSpan.FromSeconds(20), "the 404 lines again once the 50/50 routes are back with cf-v2 still stopped", ct);

        // cf start: the instances register their route, and v2 answers — nothing was ejected, so at once.
        var starting = DateTimeOffset.Now;
        await fixture.StartAsync("cf-v2", ct);
        var started = await fixture.WaitForCallerAsync(c => c.TickedFrom(NextWholeSecond(starting)).Any(l => l.Outcome == Outcome.V2),
            TimeSpan.FromSeconds(20), "v2 answers after cf-v2 started", ct);
        var firstV2 = started.TickedFrom(NextWholeSecond(starting)).First(l => l.Outcome == Outcome.V2);
        output.WriteLine($"cf-v2 started: first v2 answer {firstV2}, {(firstV2.CapturedAt - starting)?.TotalSeconds:0.0} s after the start command");
        // Lines carry whole-second timestamps (the demo's format), so "after" is by line number.
        var backFrom = firstV2.Tick;
        var back = await fixture.WaitForCallerAsync(c => c.Lines.Count(l => l.Number >= firstV2.Number && l.Outcome == Outcome.V2) >= 3
                && c.Lines.Count(l => l.Number >= firstV2.Number) >= 12,
            TimeSpan.FromSeconds(20), "12 lines once v2 answers again", ct);
        Assert.All(back.Lines.Where(l => l.Number >= firstV2.Number), l => Assert.True(l.Outcome is not Outcome.Failure, $"after v2 answered again: {l}"));

        var whole = await WaitForEveryTickPrintedAsync(outageFrom, backFrom, ct);
        var window = whole.Lines.Where(l => l.Tick >= outageFrom && l.Tick < backFrom).ToList();
        output.WriteLine($"stop to v2 back: {Tally(window)}, slowest line {window.Max(l => l.Latency)?.TotalSeconds:0.0} s after its tick");
        Assert.All(window.Where(l => l.Outcome == Outcome.Failure), l => Assert.Equal(V2UnknownRoute, l.Body));
        Assert.All(window, l => Assert.True(l.Latency <= routeTimeout + TimeSpan.FromSeconds(2),
            $"{l} appeared {l.Latency?.TotalSeconds:0.0} s after its tick (route timeout {routeTimeout.TotalSeconds} s)"));
        AssertOnlyRestarted(pids, fixture.InstanceIds("cf-v2"));
    }

    [Fact, Step(3)]
    public async Task One_of_two_v1_instances_stopped_prints_no_failed_line()
    {
        using var cts = new CancellationTokenSource(StepTimeout);
        var ct = cts.Token;
        await fixture.EnsureAllHealthyAsync(ct);
        var pids = fixture.ProcessIds();
        var instance = fixture.InstanceIds("cf-v1")[0];
        var from = NextWholeSecond(DateTimeOffset.Now);
        var routerMark = (await fixture.GetRouterAsync(ct)).Access.Count;

        await fixture.StopAsync(instance, ct);
        var downFrom = NextWholeSecond(DateTimeOffset.Now);
        await fixture.WaitForCallerAsync(c => c.TickedFrom(downFrom).Count(l => l.Outcome == Outcome.V1) >= 6,
            TimeSpan.FromSeconds(30), $"6 v1 answers with {instance} stopped", ct);
        await fixture.StartAsync(instance, ct);
        var upFrom = NextWholeSecond(DateTimeOffset.Now);
        var caller = await fixture.WaitForCallerAsync(c => c.TickedFrom(upFrom).Count() >= 12, TimeSpan.FromSeconds(30),
            $"12 ticks after {instance} is back", ct);

        var window = caller.TickedFrom(from).ToList();
        output.WriteLine($"{instance} stopped and started: {Tally(window)}; caller lines:{Environment.NewLine}{Examples(window)}");
        Assert.All(window, l => Assert.True(l.Outcome is not Outcome.Failure, l.ToString()));
        // The stopped instance left its route, and once started again it is back in it (cf start re-registers, once
        // the new process has passed its start-up health check: on a loaded machine that can outlast the 12 ticks).
        var router = await AppHostFixture.WaitUntilAsync(fixture.GetRouterAsync, r =>
            {
                var left = r.Registrations.ToList().FindLastIndex(x => x.Text.StartsWith("Unregistered", StringComparison.Ordinal) && x.Text.Contains("hello-istio-v1", StringComparison.Ordinal));
                return left >= 0 && r.Registrations.Skip(left + 1).Any(x => x.Text.StartsWith("Registered", StringComparison.Ordinal) && x.Text.Contains("hello-istio-v1", StringComparison.Ordinal));
            }, TimeSpan.FromSeconds(30), r => "router registrations: " + string.Join(" | ", r.Registrations.TakeLast(6)), ct);
        output.WriteLine("router: " + string.Join(" | ", router.Registrations.TakeLast(4)));
        Assert.DoesNotContain(router.Access.Skip(routerMark), a => a.Status >= 500);
        // As Diego restarts an instance: the new process has the stopped one's index.
        var unregistered = router.Registrations.Last(x => x.Text.StartsWith("Unregistered", StringComparison.Ordinal) && x.Text.Contains("hello-istio-v1", StringComparison.Ordinal));
        var registered = router.Registrations.Last(x => x.Text.StartsWith("Registered", StringComparison.Ordinal) && x.Text.Contains("hello-istio-v1", StringComparison.Ordinal));
        Assert.Equal(RegistrationIndex().Match(unregistered.Text).Value, RegistrationIndex().Match(registered.Text).Value);
        Assert.Matches(RegistrationIndex(), unregistered.Text);
        AssertOnlyRestarted(pids, [instance]);
    }

    [Fact, Step(4)]
    public async Task Router_down_is_the_platform_down_503_UF_URX_then_UH_once_ejected_and_traffic_recovers_by_itself_once_started()
    {
        using var cts = new CancellationTokenSource(StepTimeout);
        var ct = cts.Token;
        await fixture.EnsureAllHealthyAsync(ct);
        var pids = fixture.ProcessIds();
        var egressMark = (await fixture.GetEgressAsync(ct)).Access.LastOrDefault()?.Number ?? -1;
        Assert.Contains("maxEjectionPercent: 100", fixture.ReadIstioFile(V2DestinationRuleFile), StringComparison.Ordinal);

        await fixture.StopAsync("cf-router", ct);
        var downFrom = NextWholeSecond(DateTimeOffset.Now);
        var outage = await fixture.WaitForCallerAsync(c => c.TickedFrom(downFrom).Count() >= 16, TimeSpan.FromSeconds(20), "16 ticks with the router down", ct);
        var egress = await fixture.WaitForEgressAsync(e => new[] { "hello-istio-v1", "hello-istio-v2" }.All(host => e.Access.Any(a =>
                a.Number > egressMark && a.Stage == "gateway" && a.Status == 503 && a.Flags.Contains("UH") && a.Cluster.Contains(host, StringComparison.Ordinal))),
            TimeSpan.FromSeconds(40), "503 UH at the gateway once both hosts are ejected", ct);

        await fixture.StartAsync("cf-router", ct);
        var upAt = DateTimeOffset.Now;
        var during = outage.Lines.Where(l => l.Tick >= downFrom && l.Tick < NextWholeSecond(upAt).AddSeconds(-1)).ToList();
        output.WriteLine($"router down: {Tally(during)}; caller lines:{Environment.NewLine}{Examples(during)}");
        // Both CF hosts are behind the one router: neither version answers, and nothing fails over.
        Assert.DoesNotContain(during, l => l.Outcome is Outcome.V1 or Outcome.V2);
        Assert.All(during.Where(l => l.Outcome == Outcome.Failure), l =>
            Assert.True(l.Body.StartsWith(UpstreamFailurePrefix, StringComparison.Ordinal) || l.Body == NoHealthyUpstream, l.ToString()));
        Assert.Contains(during, l => l.Body == NoHealthyUpstream);

        var failures = egress.Access.Where(a => a.Number > egressMark && a.Status == 503).ToList();
        output.WriteLine("egress lines since the stop:" + Environment.NewLine
            + string.Join(Environment.NewLine, egress.Access.Where(a => a.Number > egressMark).Take(60).Select(a => $"  {a.CapturedAt:HH:mm:ss.fff} {a.Text}")));
        output.WriteLine("egress 503s: " + string.Join(", ", failures.CountBy(a => $"{a.Stage} {string.Join(',', a.Flags.Order())}").Select(f => $"{f.Key} ×{f.Value}")));
        // As Envoy reports it: the gateway's route (Istio's default retry policy) retries the refused connection (UF,
        // with URX once the retries are used up); the sidecar retries that 503 (retryOn 5xx) and gives up too (URX).
        // Outlier detection is per host (outlier_detection_impl.cc: each host counts its own consecutive gateway
        // errors, across requests), so what holds is per host: a host is ejected (UH) only after tries to it were
        // refused — logged as UF on some request's line, or as a UH line whose attempt count is above 1 (its earlier tries
        // were refused). Not as an order of lines: the access log is written when a request ends, so a request that
        // started after the ejection (UH, 0.1 ms) is logged before a slower one whose refused tries caused it (UF,URX,
        // 155 ms), and the caller's 125 ms ticks overlap. Across hosts there is no order at all.
        foreach (var host in new[] { "hello-istio-v1", "hello-istio-v2" })
        {
            var lines = failures.Where(a => a.Stage == "gateway" && a.Cluster.Contains(host, StringComparison.Ordinal)).ToList();
            Assert.True(lines.Any(a => a.Flags.Contains("UH")), $"{host} was never ejected (no 503 UH at the gateway)");
            Assert.True(lines.Any(a => a.Flags.Contains("UF") || (a.Flags.Contains("UH") && a.Attempts > 1)),
                $"{host} was ejected with no refused try to it logged");
        }

        // Started again, nobody does anything: the ejection ends (baseEjectionTime) and both versions answer.
        var upFrom = NextWholeSecond(upAt);
        var recovered = await fixture.WaitForCallerAsync(
            c => c.TickedFrom(upFrom).Any(l => l.Outcome == Outcome.V1) && c.TickedFrom(upFrom).Any(l => l.Outcome == Outcome.V2)
                && c.Lines.Count >= 8 && c.Lines.TakeLast(8).All(l => l.Outcome != Outcome.Failure),
            TimeSpan.FromSeconds(60), "v1 and v2 answering again after the router started", ct);
        var firstAnswer = recovered.TickedFrom(upFrom).First(l => l.Outcome is Outcome.V1 or Outcome.V2);
        output.WriteLine($"router started at {upAt:HH:mm:ss}; first answer {firstAnswer}; since: {Tally(recovered.TickedFrom(upFrom))}; caller lines:{Environment.NewLine}{Examples(recovered.TickedFrom(upFrom))}");
        await WaitForEveryTickPrintedAsync(downFrom, firstAnswer.Tick, ct);
        AssertOnlyRestarted(pids, fixture.InstanceIds("cf-router"));
    }

    [Fact, Step(5)]
    public Task Proxy_down_caller_prints_errors_and_recovers_by_itself_once_it_is_back() => StopAndRecoverAsync("proxy");

    [Fact, Step(6)]
    public Task Egress_gateway_down_caller_prints_errors_and_recovers_by_itself_once_it_is_back() => StopAndRecoverAsync("egress");

    [Fact, Step(7)]
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
    private static readonly TimeSpan HeldAroundRestart = TimeSpan.FromSeconds(3);

    private async Task StopAndRecoverAsync(string name)
    {
        using var cts = new CancellationTokenSource(StepTimeout);
        var ct = cts.Token;
        await fixture.EnsureAllHealthyAsync(ct);
        var pids = fixture.ProcessIds();

        await fixture.StopAsync(name, ct);
        var downFrom = NextWholeSecond(DateTimeOffset.Now);
        await fixture.WaitForCallerAsync(c => c.TickedFrom(downFrom).Any(l => l.Outcome == Outcome.Failure),
            TimeSpan.FromSeconds(30), $"an error line while {name} is down", ct);
        // It stays down a while longer, so that ticks well before the start command are checked below.
        await Task.Delay(HeldAroundRestart, ct);

        var restarting = DateTimeOffset.Now;
        await fixture.StartAsync(name, ct);
        var upFrom = NextWholeSecond(DateTimeOffset.Now).AddSeconds(1);

        var caller = await fixture.WaitForCallerAsync(c => c.TickedFrom(upFrom).Count() >= 12,
            TimeSpan.FromSeconds(30), $"12 ticks after {name} is back", ct);
        var down = caller.Lines.Where(l => l.Tick >= downFrom && l.Tick < upFrom).ToList();
        output.WriteLine($"{name} stopped before {downFrom:HH:mm:ss}, start command at {restarting:HH:mm:ss.fff}, up from {upFrom:HH:mm:ss}");
        output.WriteLine($"{name} down: {Tally(down)}; failures: {string.Join(" | ", down.Where(l => l.Outcome == Outcome.Failure).Select(l => l.Body[..Math.Min(l.Body.Length, 100)]).Distinct())}");
        Assert.All(caller.TickedFrom(upFrom), l => Assert.True(l.Outcome is not Outcome.Failure, $"not recovered: {l}"));
        // A stopped hop refuses connections, so the caller fails fast while it is down. A request still pending when the
        // start command is given may be held until the new process serves (DCP's proxy in front of the resource hands
        // it over; the start-up is the machine's speed), so the check stops HeldAroundRestart before that command: the
        // tick's timestamp is truncated to the second, and DCP's proxy keeps a new connection while it retries the
        // stopped backend before failing it (a tick 0.8 s before the command was seen held until the timeout).
        var whileDown = caller.Lines.Where(l => l.Tick >= downFrom && l.Tick < restarting - HeldAroundRestart && l.Outcome == Outcome.Failure).ToList();
        Assert.NotEmpty(whileDown);
        Assert.All(whileDown, l => Assert.DoesNotContain("no answer within", l.Body, StringComparison.Ordinal));
        Assert.Empty(caller.Malformed);

        AssertOnlyRestarted(pids, fixture.InstanceIds(name));
    }

    /// <summary>The given instances have new processes; every other instance kept its own.</summary>
    private void AssertOnlyRestarted(IReadOnlyDictionary<string, string?> before, IReadOnlyList<string> restarted)
    {
        var now = fixture.ProcessIds();
        foreach (var (id, pid) in before)
        {
            if (restarted.Contains(id))
            {
                Assert.True(pid != now[id], $"{id} kept process {pid}");
            }
            else
            {
                Assert.True(pid == now[id], $"{id} restarted: process {pid} became {now[id]}");
            }
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

    /// <summary>The first line of each distinct body, as printed.</summary>
    private static string Examples(IEnumerable<CallerLine> lines) =>
        string.Join(Environment.NewLine, lines.GroupBy(l => l.Body).Select(g => $"  {g.First().Timestamp}\t{g.Key}"));

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

    /// <summary>The instance index in the router's "Registered/Unregistered … (app …, index N)" line.</summary>
    [GeneratedRegex(@"index \d+\)$")]
    private static partial Regex RegistrationIndex();
}
