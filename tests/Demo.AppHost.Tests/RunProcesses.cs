using System.Diagnostics;
using System.Text;

namespace Demo.AppHost.Tests;

/// <summary>
/// The processes of one test run of the AppHost, found by an environment variable every resource gets
/// (<see cref="MarkerVariable"/> = the run's id): DCP starts each project as <c>dotnet run --no-build</c>, and a stop
/// that ends the launcher can leave the app below it running with parent 1 (seen once: a cf-v2 instance of the
/// fixture's run, alive 95 minutes later, holding a core's share and its ports). Disposal kills such survivors.
/// Linux only: it reads <c>/proc/&lt;pid&gt;/environ</c>; elsewhere it finds nothing.
/// </summary>
public static class RunProcesses
{
    /// <summary>The environment variable that marks a resource process as this run's.</summary>
    public const string MarkerVariable = "DEMO_APPHOST_TEST_RUN";

    /// <summary>The ids of the live processes whose environment has <see cref="MarkerVariable"/>=<paramref name="runId"/>.</summary>
    public static IReadOnlyList<int> Find(string runId)
    {
        var marker = Encoding.UTF8.GetBytes($"{MarkerVariable}={runId}\0");
        var found = new List<int>();
        if (!Directory.Exists("/proc"))
        {
            return found;
        }
        foreach (var directory in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(directory), out var pid) || pid == Environment.ProcessId)
            {
                continue;
            }
            try
            {
                // environ is the NUL-separated block the process started with; a leading NUL makes every entry match alike.
                var environment = File.ReadAllBytes(Path.Combine(directory, "environ"));
                if (Contains([0, .. environment], [0, .. marker]))
                {
                    found.Add(pid);
                }
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                // Gone meanwhile, or another user's process: not this run's.
            }
        }
        return found;
    }

    /// <summary>Kills (with its tree) every process of the run still alive and waits for each to exit.</summary>
    /// <returns>The ids of the processes killed; empty when the run left none.</returns>
    public static async Task<IReadOnlyList<int>> KillSurvivorsAsync(string runId, TimeSpan timeout)
    {
        var survivors = Find(runId);
        foreach (var pid in survivors)
        {
            try
            {
                using var process = Process.GetProcessById(pid);
                process.Kill(entireProcessTree: true);
                using var cts = new CancellationTokenSource(timeout);
                await process.WaitForExitAsync(cts.Token);
            }
            catch (Exception ex) when (ex is ArgumentException or InvalidOperationException or OperationCanceledException
                or System.ComponentModel.Win32Exception)
            {
                // Exited meanwhile, or not ours to kill: Find below says whether it is still there.
            }
        }
        return survivors;
    }

    private static bool Contains(ReadOnlySpan<byte> haystack, ReadOnlySpan<byte> needle) => haystack.IndexOf(needle) >= 0;
}
