using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text.RegularExpressions;

namespace Demo.AppHost.Tests;

/// <summary>
/// <c>dotnet run --no-build --project Demo.AppHost</c> as a user starts it (dashboard on), in a HOME of the test's
/// choosing, on free loopback ports instead of the launch profile's fixed ones. Stopped with SIGTERM, as Ctrl+C does,
/// so DCP takes its children down.
/// </summary>
public sealed partial class AppHostProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly ConcurrentQueue<string> _output = new();
    private readonly TaskCompletionSource<Uri> _login = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _started = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly Demo.Tests.HeavySection _section;

    private AppHostProcess(Process process, Demo.Tests.HeavySection section)
    {
        _process = process;
        // DCP starts the projects after Aspire's "started" line, and the dashboard tests drive a browser: the whole
        // run is a (shared) heavy section.
        _section = section;
        _process.OutputDataReceived += (_, e) => OnLine(e.Data);
        _process.ErrorDataReceived += (_, e) => OnLine(e.Data);
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
    }

    /// <summary>Everything the AppHost printed so far (stdout and stderr).</summary>
    public IReadOnlyList<string> Output => [.. _output];

    public string OutputText => string.Join(Environment.NewLine, _output);

    /// <summary>
    /// Starts the AppHost. <paramref name="home"/> replaces HOME (the package cache stays the machine's, so nothing
    /// is downloaded); <paramref name="environment"/> adds variables (Aspire reads <c>Section__Key</c> as configuration).
    /// Waits first for a soak elsewhere in the suite to end, and holds a shared <see cref="Demo.Tests.HeavySection"/>
    /// until disposed.
    /// </summary>
    public static async Task<AppHostProcess> StartAsync(string home, IReadOnlyDictionary<string, string>? environment = null)
    {
        var section = await Demo.Tests.HeavySection.EnterSharedAsync("AppHost run (dotnet run)");
        var start = new ProcessStartInfo("dotnet",
        [
            "run", "--no-build", "--no-launch-profile", "-c", BuildConfiguration,
            "--project", Path.Combine(AppHostFixture.RepositoryRoot, "Demo.AppHost"),
        ])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = AppHostFixture.RepositoryRoot,
        };
        var packages = Environment.GetEnvironmentVariable("NUGET_PACKAGES") is { Length: > 0 } cache
            ? cache
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages");
        var env = start.Environment;
        env["HOME"] = home;
        env["NUGET_PACKAGES"] = packages;
        env["DOTNET_CLI_HOME"] = home;
        // The launch profile's settings, on free ports so a developer's own run on 15080 does not collide.
        env["ASPNETCORE_ENVIRONMENT"] = "Development";
        env["DOTNET_ENVIRONMENT"] = "Development";
        env["ASPIRE_ALLOW_UNSECURED_TRANSPORT"] = "true";
        var ports = Demo.Tests.LoopbackPorts.Free(3);
        env["ASPNETCORE_URLS"] = $"http://localhost:{ports[0]}";
        env["ASPIRE_DASHBOARD_OTLP_ENDPOINT_URL"] = $"http://localhost:{ports[1]}";
        env["ASPIRE_RESOURCE_SERVICE_ENDPOINT_URL"] = $"http://localhost:{ports[2]}";
        // The resources' own endpoints on free ports too, as DistributedApplicationTestingBuilder does: the proxy's
        // launch-profile port (5282) belongs to a developer's run of the app, and a test run that shares it sends its
        // caller's requests, and their traces, to that other run.
        env["DcpPublisher__RandomizePorts"] = "true";
        foreach (var (key, value) in environment ?? new Dictionary<string, string>())
        {
            env[key] = value;
        }
        try
        {
            return new AppHostProcess(Process.Start(start)!, section);
        }
        catch
        {
            section.Dispose();
            throw;
        }
    }

    /// <summary>The dashboard's login URL (with its token), once printed.</summary>
    public async Task<Uri> WaitForLoginUrlAsync(CancellationToken cancellationToken) =>
        await _login.Task.WaitAsync(cancellationToken).ConfigureAwait(false);

    /// <summary>Waits for Aspire's "Distributed application started".</summary>
    public Task WaitForStartedAsync(CancellationToken cancellationToken) => _started.Task.WaitAsync(cancellationToken);

    private void OnLine(string? line)
    {
        if (line is null)
        {
            _started.TrySetException(new InvalidOperationException("The AppHost exited:" + Environment.NewLine + OutputText));
            _login.TrySetException(new InvalidOperationException("The AppHost exited:" + Environment.NewLine + OutputText));
            return;
        }
        _output.Enqueue(line);
        if (LoginLine().Match(line) is { Success: true } login)
        {
            _login.TrySetResult(new Uri(login.Groups["url"].Value));
        }
        if (line.Contains("Distributed application started", StringComparison.Ordinal))
        {
            _started.TrySetResult();
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            // SIGTERM, as Ctrl+C: the AppHost stops DCP, which stops every resource.
            using (var kill = Process.Start("kill", ["-s", "TERM", _process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]))
            {
                await kill.WaitForExitAsync().ConfigureAwait(false);
            }
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(45));
            try
            {
                await _process.WaitForExitAsync(cts.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                _process.Kill(entireProcessTree: true);
            }
        }
        _process.Dispose();
        _section.Dispose();
    }

    /// <summary>
    /// Removes a temp HOME once the AppHost is gone; DCP and the dashboard may still be writing their last files for a
    /// few seconds after it exits, so retry, then leave what remains to the temp folder's cleanup.
    /// </summary>
    public static async Task DeleteHomeAsync(string home)
    {
        for (var attempt = 0; attempt < 10; attempt++)
        {
            try
            {
                Directory.Delete(home, recursive: true);
                return;
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                await Task.Delay(TimeSpan.FromSeconds(1)).ConfigureAwait(false);
            }
        }
    }

    private static string BuildConfiguration =>
        AppContext.BaseDirectory.Split(Path.DirectorySeparatorChar).Contains("Release") ? "Release" : "Debug";

    [GeneratedRegex(@"Login to the dashboard at (?<url>http\S+)")]
    private static partial Regex LoginLine();
}
