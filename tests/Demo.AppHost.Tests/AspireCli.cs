using System.Diagnostics;
using System.Text;

namespace Demo.AppHost.Tests;

/// <summary>
/// The Aspire CLI as a user runs it: <c>dotnet aspire …</c> from the repository root, the tool the repository's manifest
/// (<c>.config/dotnet-tools.json</c>) pins. The tests never install it: the test project's build restores the manifest's
/// tools, as it restores its packages (and .ci/run runs <c>dotnet tool restore</c> before the tests too).
/// </summary>
public static class AspireCli
{
    /// <summary>
    /// <c>dotnet aspire &lt;arguments&gt;</c> in the repository root, seeing the AppHosts started under
    /// <paramref name="home"/>: the CLI finds a running AppHost by its backchannel socket under
    /// <c>$HOME/.aspire/cli/bch/</c>, which the AppHost creates in the HOME it runs under. The tool itself is found where
    /// <c>dotnet tool restore</c> recorded it, in the machine's DOTNET_CLI_HOME (<c>.dotnet/toolResolverCache</c>) and
    /// package cache: with only HOME replaced, <c>dotnet aspire</c> says 'Run "dotnet tool restore"'.
    /// </summary>
    public static ProcessStartInfo StartInfo(string home, params string[] arguments)
    {
        var start = new ProcessStartInfo("dotnet", ["aspire", .. arguments])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
            WorkingDirectory = AppHostFixture.RepositoryRoot,
            StandardOutputEncoding = Encoding.UTF8,
            StandardErrorEncoding = Encoding.UTF8,
        };
        var userProfile = Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);
        start.Environment["HOME"] = home;
        start.Environment["DOTNET_CLI_HOME"] = Environment.GetEnvironmentVariable("DOTNET_CLI_HOME") is { Length: > 0 } cliHome ? cliHome : userProfile;
        start.Environment["NUGET_PACKAGES"] = Environment.GetEnvironmentVariable("NUGET_PACKAGES") is { Length: > 0 } packages
            ? packages
            : Path.Combine(userProfile, ".nuget", "packages");
        // The CLI's usage telemetry goes to Microsoft; tests talk to 127.0.0.1 only.
        start.Environment["ASPIRE_CLI_TELEMETRY_OPTOUT"] = "true";
        return start;
    }

    /// <summary>
    /// Fails the test, saying to run <c>dotnet tool restore</c>, when <c>dotnet aspire</c> cannot start. Not
    /// <c>dotnet tool list</c>: it lists the manifest's tools whether or not they are restored (seen with an empty
    /// DOTNET_CLI_HOME and package cache: it still lists aspire.cli 13.6.5, while <c>dotnet aspire</c> exits 1 with
    /// 'Run "dotnet tool restore" to make the "aspire" command available.').
    /// </summary>
    /// <returns>What <c>dotnet aspire --version</c> printed.</returns>
    public static async Task<string> RequireRestoredAsync(string home, CancellationToken cancellationToken)
    {
        using var version = Process.Start(StartInfo(home, "--version"))!;
        version.StandardInput.Close();
        var stdout = version.StandardOutput.ReadToEndAsync(cancellationToken);
        var stderr = version.StandardError.ReadToEndAsync(cancellationToken);
        try
        {
            await version.WaitForExitAsync(cancellationToken);
        }
        finally
        {
            Kill(version);
        }
        var printed = ((await stdout).Trim() + Environment.NewLine + (await stderr).Trim()).Trim();
        Assert.True(version.ExitCode == 0,
            $"The Aspire CLI the repository pins (.config/dotnet-tools.json) is not restored: `dotnet aspire --version` in "
            + $"{AppHostFixture.RepositoryRoot} exited {version.ExitCode}: '{printed}'. Run `dotnet tool restore` in the repository "
            + "root (.ci/run does it before the tests); the tests do not install it.");
        return printed;
    }

    /// <summary>Kills the process and everything it started, if it still runs.</summary>
    public static void Kill(Process process)
    {
        try
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
            }
        }
        catch (InvalidOperationException)
        {
            // Exited meanwhile.
        }
    }
}
