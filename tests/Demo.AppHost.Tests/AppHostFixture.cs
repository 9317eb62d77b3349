using System.Diagnostics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Demo.AppHost.Tests;

/// <summary>The classes that share one <see cref="AppHostFixture"/> (their steps run one class after the other).</summary>
[CollectionDefinition(Name)]
public sealed class AppHostCollection : ICollectionFixture<AppHostFixture>
{
    public const string Name = "AppHost";
}

/// <summary>
/// One real AppHost for the <see cref="AppHostCollection"/>: cf-router, cf-v1 and cf-v2 with two instances each (<c>--CfInstances 2</c>),
/// egress, proxy and caller, with the caller ticking fast and the egress gateway reading a private copy of deploy/istio
/// that tests may edit (hot reload) without touching the repository's files.
/// </summary>
public sealed class AppHostFixture : IAsyncLifetime
{
    public static readonly string[] ResourceNames = ["cf-router", "cf-v1", "cf-v2", "egress", "proxy", "caller"];
    public const int CfInstances = 2;
    public static readonly TimeSpan CallerInterval = TimeSpan.FromMilliseconds(125);
    private static readonly TimeSpan StartTimeout = TimeSpan.FromMinutes(2);

    private DistributedApplication? _app;
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, string> _instanceNames = new();
    private readonly CancellationTokenSource _watching = new();
    private Task? _watcher;
    private readonly string _runId = Guid.NewGuid().ToString("N");

    private readonly string? _pattern;

    /// <summary>The fixture the <see cref="AppHostCollection"/> shares: the default pattern on a copy of deploy/istio.</summary>
    public AppHostFixture()
    {
    }

    /// <summary>
    /// A run of <c>--Pattern <paramref name="pattern"/></c> with one instance per CF app, reading the repository's
    /// pattern folder itself.
    /// </summary>
    internal AppHostFixture(string pattern)
    {
        _pattern = pattern;
        _cfInstances = 1;
    }

    private readonly int _cfInstances = CfInstances;

    public DistributedApplication App => _app ?? throw new InvalidOperationException("The AppHost has not started.");

    /// <summary>The gateway's configuration folder: a copy of deploy/istio.</summary>
    public string IstioDirectory { get; } = Path.Combine(Path.GetTempPath(), "demo-apphost-tests-" + Guid.NewGuid().ToString("N")[..8]);

    public static string RepositoryRoot { get; } = FindRepositoryRoot();

    public Stopwatch SinceStart { get; } = new();

    public async ValueTask InitializeAsync()
    {
        if (_pattern is null)
        {
            CopyDirectory(Path.Combine(RepositoryRoot, "deploy", "istio"), IstioDirectory);
        }
        // The cold start is exclusive, until the caller's requests get answers: DCP starts every project with
        // `dotnet run`, and the first requests through a Debug-built, not yet jitted chain are the slowest it serves.
        // Beside another assembly's CPU-heavy tests they outlast the route's 2 s per-try timeout, and every timed-out
        // try closes its HTTP/1.1 connections, so the next one pays TCP and TLS handshakes again.
        using var section = await Demo.Tests.HeavySection.EnterExclusiveAsync("AppHost cold start (shared fixture)");
        using var cts = new CancellationTokenSource(StartTimeout);

        var builder = await DistributedApplicationTestingBuilder.CreateAsync<Projects.Demo_AppHost>(
            // The dashboard is off here, and tests leave the user's certificate stores alone (DevCertificateTests covers the trust step).
            [_pattern is null ? $"IstioConfigDirectory={IstioDirectory}" : $"Pattern={_pattern}", $"CfInstances={_cfInstances}", "DevCertificates:Trust=false"], cts.Token);
        builder.Services.AddLogging(logging => logging.SetMinimumLevel(LogLevel.Warning)
            // A stopped resource fails its health checks by design; the tests look at its state instead.
            .AddFilter("Microsoft.Extensions.Diagnostics.HealthChecks", LogLevel.None)
            .AddFilter("Demo.AppHost.Resources", LogLevel.Warning)
            .AddFilter("Aspire", LogLevel.Warning)
            // The tests' own calls (AppHost's appsettings.json says Information by default): not a line per request in the test output.
            .AddFilter("System.Net.Http.HttpClient", LogLevel.Warning)
            // Stopping a resource makes DCP report log streams of a resource "being deleted".
            .AddFilter("Aspire.Hosting.Dcp.DcpExecutor", LogLevel.Critical));

        foreach (var project in builder.Resources.OfType<ProjectResource>())
        {
            // The dashboard is off in tests, so its OTLP endpoint refuses every export, and the OTel SDK's retries
            // then hold up every process's shutdown (a stop or restart) by 10 s or more.
            builder.CreateResourceBuilder(project).WithEnvironment("OTEL_EXPORTER_OTLP_ENDPOINT", "")
                .WithEnvironment(RunProcesses.MarkerVariable, _runId);
        }

        var caller = builder.Resources.OfType<ProjectResource>().Single(r => r.Name == "caller");
        builder.CreateResourceBuilder(caller)
            .WithEnvironment("Caller__Interval", CallerInterval.ToString("c"))
            // The caller's console shows only its lines and warnings; the tests also read its tick log there. The
            // provider is named by its type: Aspire sets LOGGING__CONSOLE__FORMATTERNAME, and configuration then keys
            // the section "CONSOLE", which the logger's filter rules do not match to the console provider.
            .WithEnvironment("Logging__Microsoft.Extensions.Logging.Console.ConsoleLoggerProvider__LogLevel__Demo.Caller.CallerWorker", "Debug");

        _app = await builder.BuildAsync(cts.Token);
        _watcher = WatchInstancesAsync(_app, _watching.Token);
        await _app.StartAsync(cts.Token);
        await WaitUntilAsync(_ => Task.FromResult(ResourceNames.ToDictionary(n => n, n => InstanceIds(n).Count)),
            counts => counts.All(c => c.Value == (c.Key.StartsWith("cf-v", StringComparison.Ordinal) ? _cfInstances : 1)),
            StartTimeout, counts => "instances: " + string.Join(", ", counts.Select(c => $"{c.Key} {c.Value}")), cts.Token);
        foreach (var id in ResourceNames.SelectMany(InstanceIds))
        {
            await WaitForStateAsync(id, IsRunningAndHealthy, StartTimeout, cts.Token);
        }
        await WaitForCallerAsync(c => c.Lines.Count >= 8 && c.Lines.TakeLast(8).All(l => l.Outcome != Outcome.Failure),
            StartTimeout, "8 answers in a row after the start", cts.Token);
        SinceStart.Start();
    }

    // Aspire's resource events name every instance (one per replica); the model only names the resource.
    private async Task WatchInstancesAsync(DistributedApplication app, CancellationToken cancellationToken)
    {
        try
        {
            await foreach (var resourceEvent in app.ResourceNotifications.WatchAsync(cancellationToken))
            {
                if (ResourceNames.Contains(resourceEvent.Resource.Name))
                {
                    _instanceNames.TryAdd(resourceEvent.ResourceId, resourceEvent.Resource.Name);
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _watching.CancelAsync();
        if (_watcher is not null)
        {
            await _watcher;
        }
        if (_app is not null)
        {
            using var cts = new CancellationTokenSource(TimeSpan.FromMinutes(1));
            await _app.StopAsync(cts.Token).ConfigureAwait(false);
            await _app.DisposeAsync().ConfigureAwait(false);
        }
        // What DCP left running (an app whose launcher it killed): not a neighbour for the next assembly's tests.
        var survivors = await RunProcesses.KillSurvivorsAsync(_runId, TimeSpan.FromSeconds(10));
        if (survivors.Count > 0)
        {
            Console.Error.WriteLine($"AppHost fixture: killed {survivors.Count} process(es) the run left behind: {string.Join(", ", survivors)}");
        }
        try
        {
            if (_pattern is null)
            {
                Directory.Delete(IstioDirectory, recursive: true);
            }
        }
        catch (IOException)
        {
        }
    }

    public IResource Resource(string name) =>
        App.Services.GetRequiredService<DistributedApplicationModel>().Resources.Single(r => r.Name == name);

    /// <summary>The resource's instances as DCP names them (one per replica, e.g. <c>cf-v1-abcdefgh</c>).</summary>
    public IReadOnlyList<string> InstanceIds(string name) =>
        _instanceNames.Where(i => i.Value == name).Select(i => i.Key).Order(StringComparer.Ordinal).ToList();

    /// <summary>
    /// Everything one instance (or, for a resource name, each of its instances in turn) has written to stdout/stderr so
    /// far, as Aspire captured it.
    /// </summary>
    public async Task<IReadOnlyList<LogLine>> GetLogAsync(string resourceNameOrInstanceId, CancellationToken cancellationToken)
    {
        var loggers = App.Services.GetRequiredService<ResourceLoggerService>();
        var lines = new List<LogLine>();
        foreach (var id in Instances(resourceNameOrInstanceId))
        {
            await foreach (var batch in loggers.GetAllAsync(id).WithCancellation(cancellationToken))
            {
                lines.AddRange(batch);
            }
        }
        return lines;
    }

    /// <summary>Every instance's console, one after the other.</summary>
    public async Task<IReadOnlyList<ConsoleLine>> GetInstancesConsoleAsync(string resourceName, CancellationToken cancellationToken)
    {
        var lines = new List<ConsoleLine>();
        foreach (var id in InstanceIds(resourceName))
        {
            lines.AddRange(ConsoleLog.Parse(await GetLogAsync(id, cancellationToken)));
        }
        return lines;
    }

    public async Task<CallerConsole> GetCallerAsync(CancellationToken cancellationToken) =>
        CallerConsole.Parse(ConsoleLog.Parse(await GetLogAsync("caller", cancellationToken)));

    public async Task<EgressConsole> GetEgressAsync(CancellationToken cancellationToken) =>
        EgressConsole.Parse(ConsoleLog.Parse(await GetLogAsync("egress", cancellationToken)));

    public async Task<RouterConsole> GetRouterAsync(CancellationToken cancellationToken) =>
        RouterConsole.Parse(await GetInstancesConsoleAsync("cf-router", cancellationToken));

    /// <summary>GETs <paramref name="path"/> (e.g. <c>/stats/prometheus</c>) from the egress gateway's admin port, found by its dashboard link.</summary>
    public async Task<string> GetEgressAdminAsync(string path, CancellationToken cancellationToken)
    {
        var clusters = State("egress").Snapshot.Urls.Single(u => u.Url.EndsWith("/clusters", StringComparison.Ordinal)).Url;
        using var client = new HttpClient();
        return await client.GetStringAsync(new Uri(new Uri(clusters), path), cancellationToken);
    }

    /// <summary>How often <see cref="WaitUntilAsync"/> reads again: 200 ms.</summary>
    public static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(200);

    /// <summary>Polls <paramref name="read"/> until <paramref name="done"/> holds; on timeout fails with <paramref name="describe"/>.</summary>
    public static async Task<T> WaitUntilAsync<T>(Func<CancellationToken, Task<T>> read, Func<T, bool> done, TimeSpan timeout,
        Func<T, string> describe, CancellationToken cancellationToken)
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        cts.CancelAfter(timeout);
        var last = default(T);
        try
        {
            while (true)
            {
                last = await read(cts.Token);
                if (done(last))
                {
                    return last;
                }
                await Task.Delay(PollInterval, cts.Token);
            }
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw new TimeoutException($"Not within {timeout.TotalSeconds:0} s: {(last is null ? "nothing read" : describe(last))}");
        }
    }

    /// <summary>Waits for the caller's console to satisfy <paramref name="done"/>; a timeout names the caller's last lines and, as
    /// evidence of where its requests went, the last lines of the egress gateway's and the router's consoles.</summary>
    public async Task<CallerConsole> WaitForCallerAsync(Func<CallerConsole, bool> done, TimeSpan timeout, string what, CancellationToken cancellationToken)
    {
        try
        {
            return await WaitUntilAsync(GetCallerAsync, done, timeout, c => $"{what}; the caller's last lines:{Environment.NewLine}{c.Tail()}", cancellationToken);
        }
        catch (TimeoutException ex)
        {
            throw new TimeoutException(ex.Message + Environment.NewLine + await DescribeChainAsync(cancellationToken), ex);
        }
    }

    /// <summary>The egress gateway's and the router's last console lines (what a failed story's message shows beside the caller's).</summary>
    public async Task<string> DescribeChainAsync(CancellationToken cancellationToken)
    {
        var text = new System.Text.StringBuilder();
        foreach (var name in new[] { "egress", "cf-router" })
        {
            text.AppendLine($"the {name}'s last lines:");
            foreach (var line in (await GetInstancesConsoleAsync(name, cancellationToken)).TakeLast(25))
            {
                text.AppendLine($"  {line.CapturedAt:HH:mm:ss.fff} {line.Text}");
            }
        }
        return text.ToString();
    }

    public Task<EgressConsole> WaitForEgressAsync(Func<EgressConsole, bool> done, TimeSpan timeout, string what, CancellationToken cancellationToken) =>
        WaitUntilAsync(GetEgressAsync, done, timeout,
            e => $"{what}; the egress gateway's last access-log lines:{Environment.NewLine}{string.Join(Environment.NewLine, e.Access.TakeLast(10).Select(a => a.Text))}",
            cancellationToken);

    public ResourceEvent State(string name) =>
        App.ResourceNotifications.TryGetCurrentState(name, out var state) ? state : throw new InvalidOperationException($"No state for {name}.");

    /// <summary>The resource's current process id, as DCP reports it.</summary>
    public static string? ProcessId(ResourceEvent state) =>
        state.Snapshot.Properties.FirstOrDefault(p => p.Name == "executable.pid")?.Value?.ToString();

    /// <summary>Instance id → process id, over every instance of every resource.</summary>
    public IReadOnlyDictionary<string, string?> ProcessIds() =>
        ResourceNames.SelectMany(InstanceIds).ToDictionary(id => id, id => ProcessId(State(id)));

    public static bool IsStopped(ResourceEvent state) =>
        state.Snapshot.State?.Text is { } text && KnownResourceStates.TerminalStates.Contains(text);

    public static bool IsRunningAndHealthy(ResourceEvent state) =>
        state.Snapshot.State?.Text == KnownResourceStates.Running
        && state.Snapshot.HealthStatus == Microsoft.Extensions.Diagnostics.HealthChecks.HealthStatus.Healthy;

    /// <summary>
    /// Runs a resource command (<c>resource-stop</c>, <c>resource-start</c>) as the dashboard does: on a resource name it
    /// runs on every instance (all replicas), on an instance id on that one only.
    /// </summary>
    public async Task ExecuteCommandAsync(string nameOrInstanceId, string command, CancellationToken cancellationToken)
    {
        var commands = App.Services.GetRequiredService<ResourceCommandService>();
        var result = ResourceNames.Contains(nameOrInstanceId)
            ? await commands.ExecuteCommandAsync(Resource(nameOrInstanceId), command, cancellationToken)
            : await commands.ExecuteCommandAsync(nameOrInstanceId, command, cancellationToken);
        Assert.True(result.Success, $"{command} on {nameOrInstanceId}: {result.Message}");
    }

    /// <summary>Stops (or starts) a resource and waits until each of its instances is stopped (or running and healthy).</summary>
    public async Task StopAsync(string nameOrInstanceId, CancellationToken cancellationToken)
    {
        await ExecuteCommandAsync(nameOrInstanceId, KnownResourceCommands.StopCommand, cancellationToken);
        foreach (var id in Instances(nameOrInstanceId))
        {
            await WaitForStateAsync(id, IsStopped, TimeSpan.FromSeconds(60), cancellationToken);
        }
    }

    public async Task StartAsync(string nameOrInstanceId, CancellationToken cancellationToken)
    {
        var before = Instances(nameOrInstanceId).ToDictionary(id => id, id => ProcessId(State(id)));
        await ExecuteCommandAsync(nameOrInstanceId, KnownResourceCommands.StartCommand, cancellationToken);
        foreach (var id in before.Keys)
        {
            await WaitForStateAsync(id, s => IsRunningAndHealthy(s) && ProcessId(s) != before[id], TimeSpan.FromSeconds(60), cancellationToken);
        }
    }

    private IReadOnlyList<string> Instances(string nameOrInstanceId) =>
        ResourceNames.Contains(nameOrInstanceId) ? InstanceIds(nameOrInstanceId) : [nameOrInstanceId];

    /// <summary>Waits, on Aspire's resource events, until one instance's state satisfies <paramref name="predicate"/>.</summary>
    public async Task<ResourceEvent> WaitForStateAsync(string instanceId, Func<ResourceEvent, bool> predicate, TimeSpan timeout,
        CancellationToken cancellationToken)
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        cts.CancelAfter(timeout);
        try
        {
            if (App.ResourceNotifications.TryGetCurrentState(instanceId, out var current) && predicate(current))
            {
                return current;
            }
            await foreach (var resourceEvent in App.ResourceNotifications.WatchAsync(cts.Token))
            {
                // A resource name stands for its instances (DCP's ids, e.g. egress-x7k2).
                if ((resourceEvent.ResourceId == instanceId || resourceEvent.Resource.Name == instanceId) && predicate(resourceEvent))
                {
                    return resourceEvent;
                }
            }
            throw new OperationCanceledException();
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            var state = App.ResourceNotifications.TryGetCurrentState(instanceId, out var last) ? last.Snapshot : null;
            throw new TimeoutException($"{instanceId} not in the expected state within {timeout.TotalSeconds:0} s; it is {state?.State?.Text} ({state?.HealthStatus}).");
        }
    }

    /// <summary>Replaces a file of the gateway's Istio folder in one step (a rename), as <c>kubectl apply</c> would.</summary>
    public void WriteIstioFile(string relativePath, string content)
    {
        var target = Path.Combine(IstioDirectory, relativePath);
        var staging = Path.Combine(IstioDirectory, ".staging-" + Guid.NewGuid().ToString("N"));
        File.WriteAllText(staging, content);
        File.Move(staging, target, overwrite: true);
    }

    public string ReadIstioFile(string relativePath) => File.ReadAllText(Path.Combine(IstioDirectory, relativePath));

    /// <summary>Brings every resource back to running and healthy, so one failed test does not fail the next.</summary>
    public async Task EnsureAllHealthyAsync(CancellationToken cancellationToken)
    {
        foreach (var id in ResourceNames.SelectMany(InstanceIds))
        {
            if (IsStopped(State(id)))
            {
                await ExecuteCommandAsync(id, KnownResourceCommands.StartCommand, cancellationToken);
            }
            await WaitForStateAsync(id, IsRunningAndHealthy, TimeSpan.FromSeconds(60), cancellationToken);
        }
        // An outlier ejection (baseEjectionTime) can outlast the fault that caused it.
        await WaitForCallerAsync(c => c.Lines.Count >= 8 && c.Lines.TakeLast(8).All(l => l.Outcome != Outcome.Failure),
            TimeSpan.FromSeconds(60), "8 answers in a row", cancellationToken);
    }

    private static string FindRepositoryRoot()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, "Demo.sln")))
            {
                return directory.FullName;
            }
        }
        throw new InvalidOperationException($"No Demo.sln above {AppContext.BaseDirectory}.");
    }

    private static void CopyDirectory(string source, string target)
    {
        Directory.CreateDirectory(target);
        foreach (var file in Directory.EnumerateFiles(source))
        {
            File.Copy(file, Path.Combine(target, Path.GetFileName(file)));
        }
        foreach (var directory in Directory.EnumerateDirectories(source))
        {
            CopyDirectory(directory, Path.Combine(target, Path.GetFileName(directory)));
        }
    }
}
