using System.Diagnostics;
using System.Text;
using System.Text.Json.Nodes;

namespace Demo.Bench.Tests;

/// <summary>
/// Runs a bench/*.sh script against the outputs this test run already built (BENCH_BUILD=0, same configuration), with
/// results written to a temp folder, and returns its exit code, output and JSON result.
/// </summary>
public sealed class BenchScript : IDisposable
{
    private BenchScript(string resultsDirectory) => ResultsDirectory = resultsDirectory;

    public string ResultsDirectory { get; }

    public static string RepositoryRoot
    {
        get
        {
            var directory = new DirectoryInfo(AppContext.BaseDirectory);
            while (directory is not null && !File.Exists(Path.Combine(directory.FullName, "Demo.sln")))
            {
                directory = directory.Parent;
            }
            return directory?.FullName ?? throw new InvalidOperationException("Demo.sln not found above " + AppContext.BaseDirectory);
        }
    }

    /// <summary>Debug or Release: the configuration of this test assembly (…/bin/&lt;configuration&gt;/net10.0/).</summary>
    public static string Configuration => new DirectoryInfo(AppContext.BaseDirectory.TrimEnd('/')).Parent!.Name;

    public static BenchScript Create() =>
        new(Directory.CreateTempSubdirectory("demo-bench-results-").FullName);

    public async Task<(int ExitCode, string Output, JsonObject? Result)> RunAsync(string script, IReadOnlyList<string> arguments,
        IReadOnlyDictionary<string, string> environment, TimeSpan timeout)
    {
        var start = new ProcessStartInfo("bash")
        {
            WorkingDirectory = RepositoryRoot,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
        };
        start.ArgumentList.Add(Path.Combine(RepositoryRoot, "bench", script));
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }
        start.Environment["BENCH_BUILD"] = "0";
        start.Environment["CONFIGURATION"] = Configuration;
        start.Environment["RESULTS_DIR"] = ResultsDirectory;
        foreach (var (name, value) in environment)
        {
            start.Environment[name] = value;
        }

        var output = new StringBuilder();
        using var process = new Process { StartInfo = start };
        process.OutputDataReceived += (_, e) => Append(output, e.Data);
        process.ErrorDataReceived += (_, e) => Append(output, e.Data);
        process.Start();
        process.StandardInput.Close();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            await process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            // SIGTERM lets the script's trap stop what it started; the process group is its own only.
            Process.Start("kill", ["-TERM", process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]).WaitForExit();
            await process.WaitForExitAsync(CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(30));
            throw new TimeoutException($"{script} did not finish within {timeout}:\n{output}");
        }
        process.WaitForExit();

        var json = Directory.EnumerateFiles(ResultsDirectory, "*.json").OrderBy(f => f).LastOrDefault();
        var result = json is null ? null : JsonNode.Parse(await File.ReadAllTextAsync(json))?.AsObject();
        return (process.ExitCode, output.ToString(), result);
    }

    private static void Append(StringBuilder output, string? line)
    {
        if (line is null)
        {
            return;
        }
        lock (output)
        {
            output.AppendLine(line);
        }
    }

    public void Dispose()
    {
        try
        {
            Directory.Delete(ResultsDirectory, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
