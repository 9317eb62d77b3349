using Demo.EgressGateway.Istio;
using Microsoft.Extensions.Options;

namespace Demo.EgressGateway.Mesh;

/// <summary>
/// Holds the applied configuration. Loads deploy/istio when the host starts (<see cref="Load"/>, also run by
/// <see cref="StartingAsync"/>; errors refuse the start) and, like <c>kubectl apply</c>, re-applies it when a file
/// changes; an invalid edit keeps the last good configuration. Constructing it reads no configuration file.
/// </summary>
public sealed class MeshSnapshotProvider : IHostedLifecycleService, IDisposable
{
    private static readonly TimeSpan Debounce = TimeSpan.FromMilliseconds(150);
    private const long BuildGarbageToCompact = 32L * 1024 * 1024;
    private readonly EgressGatewayOptions _options;
    private readonly MeshSnapshotCompiler _compiler;
    private readonly ILogger<MeshSnapshotProvider> _logger;
    private readonly Lock _reloadGate = new();
    private FileSystemWatcher? _watcher;
    private Timer? _debounceTimer;
    private MeshSnapshot? _current;
    private IReadOnlyList<string> _scenarios;
    private long _lastBuildAllocated;
    private bool _lastBuildWasLarge;

    public MeshSnapshotProvider(IOptions<EgressGatewayOptions> options, ClusterManager clusterManager, ILogger<MeshSnapshotProvider> logger)
    {
        _options = options.Value;
        _compiler = new MeshSnapshotCompiler(clusterManager, _options);
        _logger = logger;
        _scenarios = _options.Scenarios;
    }

    /// <summary>The serving revision.</summary>
    /// <exception cref="InvalidOperationException">Before <see cref="Load"/> (the host has not started).</exception>
    public MeshSnapshot Current => Volatile.Read(ref _current)
        ?? throw new InvalidOperationException("No configuration is loaded yet: MeshSnapshotProvider.Load runs when the host starts.");

    /// <summary>
    /// Loads the configuration folder with the configured scenarios as revision 1 and starts watching it (when
    /// <see cref="EgressGatewayOptions.WatchConfiguration"/>); does nothing once loaded.
    /// </summary>
    /// <exception cref="IstioConfigException">The folder has errors: every diagnostic, each naming file, resource and field.</exception>
    public void Load()
    {
        lock (_reloadGate)
        {
            if (_current is not null)
            {
                return;
            }
            var first = Build(revision: 1, _scenarios, out var diagnostics) ?? throw new IstioConfigException(diagnostics);
            Volatile.Write(ref _current, first);
            AppliedAt = DateTimeOffset.UtcNow;
            Log.ConfigurationApplied(_logger, first.Revision, _options.ConfigDirectory, DescribeScenario(), first.Source.Resources.Count);
            ReturnMemory();
            if (_options.WatchConfiguration)
            {
                StartWatching();
            }
        }
    }

    /// <summary>Loads the configuration (<see cref="Load"/>) before any listener starts serving.</summary>
    public Task StartingAsync(CancellationToken cancellationToken)
    {
        Load();
        return Task.CompletedTask;
    }

    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    public Task StartedAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    public Task StoppingAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    public Task StoppedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <summary>Raised after a reload attempt: the new revision, or the diagnostics that kept the old one.</summary>
    public event Action<MeshSnapshot, IReadOnlyList<ConfigDiagnostic>>? Reloaded;

    /// <summary>The errors of the latest change if it was rejected (the previous revision keeps serving); empty once a change applies.</summary>
    public IReadOnlyList<ConfigDiagnostic> LastRejection { get; private set; } = [];

    /// <summary>When <see cref="LastRejection"/> happened; null when the latest change applied.</summary>
    public DateTimeOffset? LastRejectedAt { get; private set; }

    /// <summary>When the serving revision was applied.</summary>
    public DateTimeOffset AppliedAt { get; private set; } = DateTimeOffset.UtcNow;

    /// <summary>The scenarios (file names without .yaml, from <c>scenarios/</c>) the serving revision was built with.</summary>
    public IReadOnlyList<string> ActiveScenarios => Volatile.Read(ref _scenarios);

    /// <summary>Re-reads the folder now; returns true when the new configuration was applied.</summary>
    public bool Reload()
    {
        if (Volatile.Read(ref _current) is null)
        {
            Load();
            return true;
        }
        lock (_reloadGate)
        {
            return TryApply(_scenarios, out _);
        }
    }

    /// <summary>
    /// Applies deploy/istio with <paramref name="scenarios"/> on top, at run time — no file is edited, nothing
    /// restarts (empty: back to deploy/istio alone). Like <c>kubectl apply</c> of the scenario files: a set that does
    /// not load or validate is rejected with its findings, and the serving revision and its scenarios stay.
    /// </summary>
    public bool ApplyScenarios(IReadOnlyList<string> scenarios, out IReadOnlyList<ConfigDiagnostic> diagnostics)
    {
        lock (_reloadGate)
        {
            return TryApply([.. scenarios.Distinct(StringComparer.Ordinal)], out diagnostics);
        }
    }

    private bool TryApply(IReadOnlyList<string> scenarios, out IReadOnlyList<ConfigDiagnostic> diagnostics)
    {
        var next = Build(Current.Revision + 1, scenarios, out diagnostics);
        if (next is null)
        {
            Reject(diagnostics);
            return false;
        }
        Volatile.Write(ref _scenarios, scenarios);
        Volatile.Write(ref _current, next);
        LastRejection = [];
        LastRejectedAt = null;
        AppliedAt = DateTimeOffset.UtcNow;
        Log.ConfigurationApplied(_logger, next.Revision, _options.ConfigDirectory, DescribeScenario(), next.Source.Resources.Count);
        Reloaded?.Invoke(next, diagnostics);
        ReturnMemory();
        return true;
    }

    // Building a large revision leaves the reading of the changed files and the previous revision behind at once — for
    // thousands of services more than the heap a revision keeps, and in the oldest generation, where nothing collects it
    // until the heap next fills. Past BuildGarbageToCompact bytes one aggressive collection (compacting, and giving the
    // freed regions back to the system) returns it now; its pause grows with the configuration (bench/RESULTS.md, the
    // scale sections). Small configurations never pay it.
    private void ReturnMemory()
    {
        if (_lastBuildAllocated >= BuildGarbageToCompact && _lastBuildWasLarge)
        {
            GC.Collect(GC.MaxGeneration, GCCollectionMode.Aggressive, blocking: true, compacting: true);
        }
    }

    private void Reject(IReadOnlyList<ConfigDiagnostic> diagnostics)
    {
        LastRejection = diagnostics;
        LastRejectedAt = DateTimeOffset.UtcNow;
        Log.ConfigurationRejected(_logger, Current.Revision,
            string.Join(Environment.NewLine, diagnostics.Where(d => d.Severity == DiagnosticSeverity.Error)));
        Reloaded?.Invoke(Current, diagnostics);
    }

    private MeshSnapshot? Build(int revision, IReadOnlyList<string> scenarios, out IReadOnlyList<ConfigDiagnostic> diagnostics)
    {
        // Process-wide, as a large build reads its files and translates on several threads; requests served meanwhile
        // count too, so only a large configuration (IstioConfigSet.IsLarge) is ever compacted after.
        var allocated = GC.GetTotalAllocatedBytes();
        try
        {
            return BuildRevision(revision, scenarios, out diagnostics);
        }
        finally
        {
            _lastBuildAllocated = GC.GetTotalAllocatedBytes() - allocated;
        }
    }

    private MeshSnapshot? BuildRevision(int revision, IReadOnlyList<string> scenarios, out IReadOnlyList<ConfigDiagnostic> diagnostics)
    {
        var environment = _options.ToMeshEnvironment();
        var config = IstioConfigLoader.LoadDirectory(_options.ConfigDirectory, scenarios);
        _lastBuildWasLarge = config.IsLarge;
        var analysis = config.HasErrors ? new ConfigAnalysis(config, config.Diagnostics, null) : ConfigAnalysis.Run(config, environment);
        diagnostics = analysis.Diagnostics;
        foreach (var warning in diagnostics.Where(d => d.Severity == DiagnosticSeverity.Warning))
        {
            Log.ConfigurationWarning(_logger, warning.ToString());
        }
        if (analysis.Xds is not { } xds)
        {
            return null;
        }
        foreach (var dr in config.OfKind<DestinationRule>())
        {
            var insecure = new[] { dr.TrafficPolicy }.Concat(dr.Subsets.Select(s => s.TrafficPolicy))
                .SelectMany(p => p is null ? [] : p.PortLevelSettings.Select(s => s.Tls).Append(p.Tls))
                .Any(t => t is { InsecureSkipVerify: true });
            if (insecure)
            {
                Log.InsecureDestinationRule(_logger, dr.Id.Name, dr.Id.File, dr.Host);
            }
        }
        return _compiler.Compile(config, environment, xds, revision);
    }

    private string DescribeScenario() => ActiveScenarios.Count == 0 ? "default" : string.Join(",", ActiveScenarios);

    private void StartWatching()
    {
        _debounceTimer = new Timer(_ => Reload(), null, Timeout.Infinite, Timeout.Infinite);
        _watcher = new FileSystemWatcher(_options.ConfigDirectory)
        {
            IncludeSubdirectories = true,
            NotifyFilter = NotifyFilters.FileName | NotifyFilters.LastWrite | NotifyFilters.Size | NotifyFilters.CreationTime,
        };
        FileSystemEventHandler changed = (_, e) =>
        {
            if (IstioConfigLoader.IsConfigFile(e.FullPath))
            {
                _debounceTimer.Change(Debounce, Timeout.InfiniteTimeSpan);
            }
        };
        _watcher.Changed += changed;
        _watcher.Created += changed;
        _watcher.Deleted += changed;
        _watcher.Renamed += (sender, e) => changed(sender, e);
        _watcher.EnableRaisingEvents = true;
    }

    public void Dispose()
    {
        _watcher?.Dispose();
        _debounceTimer?.Dispose();
    }
}
