using System.Collections.Concurrent;
using System.Diagnostics;

namespace Demo.AppHost.Tests;

/// <summary>
/// Issue 19 item 2: the original demo is checked with <c>kubectl logs deploy/traffic -f</c>, one line per tick; the
/// local equivalent is the Aspire CLI's <c>aspire logs caller -f</c> (the repository's tool manifest pins
/// <c>Aspire.Cli</c>; <c>dotnet tool restore</c> brings it), run beside the user's <c>dotnet run --project Demo.AppHost</c>.
/// </summary>
[Collection(DashboardCollection.Name)]
public sealed class CallerLogsTests(FirstRunFixture firstRun, ITestOutputHelper output)
{
    private const int Wanted = 5;

    [Fact]
    public async Task Aspire_logs_caller_follow_prints_only_the_seed_lines()
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromMinutes(3));
        await firstRun.AppHost.WaitForStartedAsync(cts.Token);

        var start = new ProcessStartInfo("dotnet", ["aspire", "logs", "caller", "--follow", "--format", "Json", "--non-interactive", "--nologo",
            "--apphost", Path.Combine(AppHostFixture.RepositoryRoot, "Demo.AppHost", "Demo.AppHost.csproj")])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = AppHostFixture.RepositoryRoot,
        };
        // The CLI finds a running AppHost through the HOME it runs under (the first run's); the tool itself is found
        // through DOTNET_CLI_HOME (the machine's, where `dotnet tool restore` recorded it).
        start.Environment["HOME"] = firstRun.Home;
        start.Environment["DOTNET_CLI_HOME"] = Environment.GetEnvironmentVariable("DOTNET_CLI_HOME") is { Length: > 0 } cliHome
            ? cliHome
            : Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);
        start.Environment["NO_COLOR"] = "1";
        start.Environment["NUGET_PACKAGES"] = Environment.GetEnvironmentVariable("NUGET_PACKAGES") is { Length: > 0 } cache
            ? cache
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages");

        var lines = new ConcurrentQueue<string>();
        var errors = new ConcurrentQueue<string>();
        var enough = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var logs = new Process { StartInfo = start };
        logs.OutputDataReceived += (_, e) =>
        {
            if (!string.IsNullOrWhiteSpace(e.Data))
            {
                lines.Enqueue(Content(e.Data));
                if (lines.Count(CallerConsole.IsInDemoFormat) >= Wanted)
                {
                    enough.TrySetResult();
                }
            }
        };
        logs.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is not null)
            {
                errors.Enqueue(e.Data);
            }
        };
        logs.Start();
        logs.BeginOutputReadLine();
        logs.BeginErrorReadLine();
        try
        {
            await enough.Task.WaitAsync(TimeSpan.FromSeconds(90), cts.Token);
        }
        catch (TimeoutException)
        {
            Assert.Fail($"`aspire logs caller -f` printed {lines.Count(CallerConsole.IsInDemoFormat)} seed lines in 90 s; stdout:{Environment.NewLine}"
                + string.Join(Environment.NewLine, lines) + $"{Environment.NewLine}stderr:{Environment.NewLine}" + string.Join(Environment.NewLine, errors));
        }
        finally
        {
            if (!logs.HasExited)
            {
                logs.Kill(entireProcessTree: true);
            }
            await logs.WaitForExitAsync(CancellationToken.None);
        }

        output.WriteLine(string.Join(Environment.NewLine, lines));
        // Before the process's first line the log holds Aspire's own notes ("Waiting for resource 'proxy' …"), and DCP's
        // ("[sys] Starting process…") may come anywhere; apart from those, nothing but seed lines: no logger record.
        var printed = lines.SkipWhile(line => !CallerConsole.IsInDemoFormat(line)).Where(line => !ConsoleLog.IsDcpNote(line)).ToList();
        Assert.All(printed, line => Assert.True(CallerConsole.IsInDemoFormat(line), $"not a seed line: '{line}'"));
        Assert.DoesNotContain(lines, line => ConsoleLog.IsLoggerHeader(line));
    }

    // With --format Json the CLI prints one JSON object per log line; the line's text is its one string property that
    // is not the resource's name or a timestamp.
    private static string Content(string line)
    {
        try
        {
            using var json = System.Text.Json.JsonDocument.Parse(line);
            var texts = json.RootElement.EnumerateObject()
                .Where(p => p.Value.ValueKind == System.Text.Json.JsonValueKind.String
                    && p.Name is not ("resourceName" or "resource" or "timestamp" or "resourceDisplayName"))
                .Select(p => p.Value.GetString()!)
                .ToList();
            return texts.Count == 1 ? texts[0] : line;
        }
        catch (System.Text.Json.JsonException)
        {
            return line;
        }
    }
}
