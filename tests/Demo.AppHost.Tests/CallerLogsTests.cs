using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text.RegularExpressions;

namespace Demo.AppHost.Tests;

/// <summary>
/// Issue 19 item 2: the original demo is followed with <c>kubectl logs deploy/traffic -f</c>, one line per tick; the
/// README's local equivalent is <c>dotnet aspire logs caller -f</c> (the Aspire CLI the repository's tool manifest pins,
/// brought by <c>dotnet tool restore</c>) from the repository root, beside the user's <c>dotnet run --project Demo.AppHost</c>.
/// The AppHost is the collection's <see cref="FirstRunFixture"/>: that <c>dotnet run</c> of Demo.AppHost on a fresh HOME,
/// shared with the dashboard and dev-certificate tests, so this test adds no AppHost start of its own. The fixture stops
/// it when the collection ends, also when a test failed: SIGTERM, as Ctrl+C, and its process tree killed if it has not
/// exited within 45 s; DCP (detached: parent 1, its own session) watches the AppHost's pid and then stops the resources
/// and removes its temp folder by itself. The CLI's process tree is killed here, in a finally.
/// </summary>
[Collection(DashboardCollection.Name)]
public sealed partial class CallerLogsTests(FirstRunFixture firstRun, ITestOutputHelper output)
{
    private const int Wanted = 3;

    /// <summary>In its plain format the CLI puts the resource's name before every line it prints of that resource.</summary>
    private const string Prefix = "[caller] ";

    /// <summary>The seed's line, as <c>kubectl logs deploy/traffic -f</c> shows it (bodies: <see cref="CallerLine"/>).</summary>
    private const string SeedPattern =
        $@"^\d{{4}}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00\t({CallerLine.V1Body}|{CallerLine.V2Body}|{CallerLine.FaultBody})$";

    [Fact]
    public async Task Aspire_logs_caller_follow_prints_only_seed_lines_after_aspire_s_own_notes()
    {
        var took = Stopwatch.StartNew();
        using var cts = new CancellationTokenSource(TimeSpan.FromMinutes(3));
        var version = await AspireCli.RequireRestoredAsync(firstRun.Home, cts.Token);
        output.WriteLine($"dotnet aspire --version: {version} ({took.Elapsed.TotalSeconds:0.0} s)");
        await firstRun.AppHost.WaitForStartedAsync(cts.Token);
        output.WriteLine($"AppHost started: {took.Elapsed.TotalSeconds:0.0} s");

        // Exactly the README's command: no --nologo, --format or --apphost.
        using var logs = new Process { StartInfo = AspireCli.StartInfo(firstRun.Home, "logs", "caller", "-f") };
        var errors = new ConcurrentQueue<string>();
        logs.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is not null)
            {
                errors.Enqueue(e.Data);
            }
        };
        var read = new List<string>();
        string Printed() => $"stdout:{Environment.NewLine}{string.Join(Environment.NewLine, read)}{Environment.NewLine}"
            + $"stderr:{Environment.NewLine}{string.Join(Environment.NewLine, errors)}";
        var started = false;
        try
        {
            started = logs.Start();
            logs.StandardInput.Close();
            logs.BeginErrorReadLine();
            using var reading = CancellationTokenSource.CreateLinkedTokenSource(cts.Token);
            reading.CancelAfter(TimeSpan.FromSeconds(90));
            var seeds = 0;
            while (seeds < Wanted)
            {
                string? line;
                try
                {
                    line = await logs.StandardOutput.ReadLineAsync().WaitAsync(reading.Token);
                }
                catch (OperationCanceledException) when (!cts.IsCancellationRequested)
                {
                    Assert.Fail($"`dotnet aspire logs caller -f` printed {seeds} of {Wanted} caller lines in 90 s; {Printed()}");
                    throw;
                }
                if (line is null)
                {
                    // E.g. with no AppHost under HOME it prints "No running AppHost found. …" and exits 0.
                    await logs.WaitForExitAsync(cts.Token);
                    Assert.Fail($"`dotnet aspire logs caller -f` exited ({logs.ExitCode}) after {seeds} of {Wanted} caller lines; {Printed()}");
                }
                // The CLI colours its output even into a pipe (the prefix, its status line): escapes removed.
                line = Escape().Replace(line, "");
                read.Add(line);
                if (line.StartsWith(Prefix, StringComparison.Ordinal) && SeedLine().IsMatch(line[Prefix.Length..]))
                {
                    seeds++;
                }
            }
            output.WriteLine($"{Wanted} caller lines: {took.Elapsed.TotalSeconds:0.0} s");
        }
        finally
        {
            // Also on a failed assertion above: the CLI's tree goes, and this waits for it (never past 10 s).
            if (started)
            {
                AspireCli.Kill(logs);
                using var exit = new CancellationTokenSource(TimeSpan.FromSeconds(10));
                await logs.WaitForExitAsync(exit.Token).ContinueWith(_ => { }, CancellationToken.None, TaskContinuationOptions.None, TaskScheduler.Default);
            }
        }
        output.WriteLine(Printed());

        // What the CLI prints before the caller's first line, seen with Aspire.Cli 13.6.5 (its preamble):
        //   Scanning for running AppHosts...                       the CLI's own status line, first, without the prefix;
        //   [caller] Waiting for resource 'proxy' to become healthy.   Aspire's notes of the caller's WaitFor, written into
        //   [caller] Finished waiting for resource 'proxy'.            its log before its process starts.
        // and one note of DCP's, which in follow mode comes where the backlog ends and the live lines begin, so it may
        // also come after caller lines (its own timestamp, `-t`, is before the caller's first line):
        //   [caller] [sys] Starting process...: Cmd = /usr/bin/dotnet, Args = ["run", "--project", …, "--no-build",
        //   "--configuration", "Debug", "--no-launch-profile"]
        // The CLI wraps its plain output at 150 columns, so that note is two stdout lines, the second without the prefix.
        // Nothing else is allowed: before the first caller line only the preamble, after it only caller lines (and that
        // DCP note); no logger record, no other note of DCP's (a process exit or restart), no stderr of the caller's.
        var unexpected = new List<string>();
        var seenSeed = false;
        var inDcpNote = false;
        foreach (var (index, line) in read.Index())
        {
            var prefixed = line.StartsWith(Prefix, StringComparison.Ordinal);
            if (prefixed && SeedLine().IsMatch(line[Prefix.Length..]))
            {
                seenSeed = true;
                inDcpNote = false;
            }
            else if (DcpStartNote().IsMatch(line))
            {
                inDcpNote = true;
            }
            else if (inDcpNote && !prefixed)
            {
                // The wrapped rest of DCP's note.
            }
            else
            {
                inDcpNote = false;
                var preamble = (index == 0 && line == "Scanning for running AppHosts...") || (!seenSeed && WaitNote().IsMatch(line));
                if (!preamble)
                {
                    unexpected.Add($"line {index + 1}: '{line}'");
                }
            }
        }
        Assert.True(unexpected.Count == 0,
            $"`dotnet aspire logs caller -f` printed lines that are neither a seed line nor Aspire's own preamble:{Environment.NewLine}"
            + string.Join(Environment.NewLine, unexpected));
        Assert.True(read.Count(line => line.StartsWith(Prefix, StringComparison.Ordinal) && SeedLine().IsMatch(line[Prefix.Length..])) >= Wanted);
        output.WriteLine($"took {took.Elapsed.TotalSeconds:0.0} s");
    }

    [GeneratedRegex(SeedPattern)]
    private static partial Regex SeedLine();

    [GeneratedRegex(@"^\[caller\] (Waiting for resource '[^']+' to (enter the 'Running' state|become healthy)|Waiting for resource ready to execute for '[^']+'|Finished waiting for resource '[^']+')\.$")]
    private static partial Regex WaitNote();

    [GeneratedRegex(@"^\[caller\] \[sys\] Starting process\.\.\.: ")]
    private static partial Regex DcpStartNote();

    /// <summary>ANSI CSI sequences (colours) and OSC sequences (hyperlinks).</summary>
    [GeneratedRegex(@"\x1B\[[0-9;?]*[A-Za-z]|\x1B\][^\x07\x1B]*(\x07|\x1B\\)")]
    private static partial Regex Escape();
}
