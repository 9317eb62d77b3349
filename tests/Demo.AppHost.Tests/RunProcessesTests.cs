using System.Diagnostics;

namespace Demo.AppHost.Tests;

/// <summary>
/// What the fixture's disposal relies on: a process that carries the run's marker is found, even once orphaned
/// (parent 1, as a DCP-launched app whose <c>dotnet run</c> launcher was killed), and killed; another run's is not.
/// </summary>
public sealed class RunProcessesTests
{
    [Fact]
    public async Task An_orphaned_process_of_the_run_is_found_and_killed_and_another_run_s_is_left_alone()
    {
        var run = Guid.NewGuid().ToString("N");
        var other = Guid.NewGuid().ToString("N");
        // sh starts sleep in the background and exits at once: the sleep's parent becomes 1, like the orphaned app.
        await StartOrphanAsync(run);
        await StartOrphanAsync(other);
        try
        {
            var survivor = Assert.Single(RunProcesses.Find(run));
            Assert.Single(RunProcesses.Find(other));

            var killed = await RunProcesses.KillSurvivorsAsync(run, TimeSpan.FromSeconds(10));

            Assert.Equal(new[] { survivor }, killed);
            Assert.Empty(RunProcesses.Find(run));
            Assert.Single(RunProcesses.Find(other));
        }
        finally
        {
            await RunProcesses.KillSurvivorsAsync(other, TimeSpan.FromSeconds(10));
        }
        Assert.Empty(RunProcesses.Find(other));
    }

    private static async Task StartOrphanAsync(string runId)
    {
        var start = new ProcessStartInfo("/bin/sh", ["-c", "sleep 300 >/dev/null 2>&1 &"]) { UseShellExecute = false };
        start.Environment[RunProcesses.MarkerVariable] = runId;
        using var shell = Process.Start(start)!;
        await shell.WaitForExitAsync(TestContext.Current.CancellationToken);
    }
}
