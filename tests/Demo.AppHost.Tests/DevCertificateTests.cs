namespace Demo.AppHost.Tests;

/// <summary>
/// Issue 10 item 6: a first <c>dotnet run --project Demo.AppHost</c> on a fresh HOME shows no "No trusted Aspire
/// development certificate" warning (the dashboard's red banner is the same check), trusts per user only, and says
/// so in one console line.
/// </summary>
[Collection(DashboardCollection.Name)]
public sealed class DevCertificateTests(FirstRunFixture firstRun, ITestOutputHelper output)
{
    private const string AspireWarning = "No trusted Aspire development certificate";

    [Fact]
    public async Task First_run_on_a_fresh_home_trusts_the_development_certificate_per_user_and_aspire_does_not_warn()
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromMinutes(3));
        await firstRun.AppHost.WaitForStartedAsync(cts.Token);
        // Aspire checks before it starts DCP; give any late warning a moment to show anyway.
        await Task.Delay(TimeSpan.FromSeconds(2), cts.Token);
        output.WriteLine(firstRun.AppHost.OutputText);

        Assert.DoesNotContain(firstRun.AppHost.Output, l => l.Contains(AspireWarning, StringComparison.Ordinal));
        Assert.Single(firstRun.AppHost.Output, l => l == DeveloperCertificateTrust.Announcement);

        // Per user: the certificate and its trust live under the temp HOME; no system store changed.
        Assert.NotEmpty(Directory.EnumerateFiles(Path.Combine(firstRun.Home, ".dotnet", "corefx", "cryptography", "x509stores", "my")));
        Assert.NotEmpty(Directory.EnumerateFiles(Path.Combine(firstRun.Home, ".dotnet", "corefx", "cryptography", "x509stores", "root")));
        Assert.Equal(firstRun.SystemTrustStoresBefore, SystemTrustStores());
    }

    [Fact]
    public async Task Second_run_finds_the_certificate_trusted_and_says_nothing()
    {
        var home = Directory.CreateTempSubdirectory("demo-fresh-home-").FullName;
        try
        {
            using var cts = new CancellationTokenSource(TimeSpan.FromMinutes(3));
            using (var trust = System.Diagnostics.Process.Start(new System.Diagnostics.ProcessStartInfo("dotnet", ["dev-certs", "https", "--trust"])
            {
                Environment = { ["HOME"] = home, ["DOTNET_CLI_HOME"] = home },
                RedirectStandardOutput = true,
                RedirectStandardError = true,
            })!)
            {
                await trust.WaitForExitAsync(cts.Token);
            }
            await using var apphost = await AppHostProcess.StartAsync(home);
            await WaitPastTheCheckAsync(apphost, cts.Token);

            Assert.DoesNotContain(apphost.Output, l => l.Contains(AspireWarning, StringComparison.Ordinal));
            Assert.DoesNotContain(apphost.Output, l => l == DeveloperCertificateTrust.Announcement);
        }
        finally
        {
            await AppHostProcess.DeleteHomeAsync(home);
        }
    }

    [Fact]
    public async Task Without_the_trust_step_aspire_warns_so_the_check_above_can_fail()
    {
        var home = Directory.CreateTempSubdirectory("demo-fresh-home-").FullName;
        try
        {
            using var cts = new CancellationTokenSource(TimeSpan.FromMinutes(3));
            await using var apphost = await AppHostProcess.StartAsync(home, new Dictionary<string, string> { ["DevCertificates__Trust"] = "false" });
            await WaitPastTheCheckAsync(apphost, cts.Token);

            Assert.Contains(apphost.Output, l => l.Contains(AspireWarning, StringComparison.Ordinal));
        }
        finally
        {
            await AppHostProcess.DeleteHomeAsync(home);
        }
    }

    /// <summary>
    /// Aspire checks the certificate when it starts DCP, before the dashboard runs: once the login URL is printed (and a
    /// moment more for a late line) the check has spoken; the rest of the start is not needed here. The test without the
    /// trust step proves the warning shows within that window.
    /// </summary>
    private static async Task WaitPastTheCheckAsync(AppHostProcess apphost, CancellationToken cancellationToken)
    {
        await apphost.WaitForLoginUrlAsync(cancellationToken);
        await Task.Delay(TimeSpan.FromSeconds(2), cancellationToken);
    }

    /// <summary>Names and sizes of the files in the system's trust stores.</summary>
    internal static string SystemTrustStores() => string.Join('\n',
        new[] { "/etc/ssl/certs", "/usr/local/share/ca-certificates", "/usr/share/ca-certificates" }
            .Where(Directory.Exists)
            .SelectMany(d => Directory.EnumerateFileSystemEntries(d, "*", SearchOption.AllDirectories))
            .Order(StringComparer.Ordinal)
            .Select(f => File.Exists(f) ? $"{f} {new FileInfo(f).Length}" : f));
}

/// <summary>
/// Tests that start a user's AppHost (with the dashboard) run one at a time, beside one first run on a fresh HOME that
/// they share (<see cref="FirstRunFixture"/>).
/// </summary>
[CollectionDefinition(Name)]
public sealed class DashboardCollection : ICollectionFixture<FirstRunFixture>
{
    public const string Name = "Dashboard";
}

/// <summary>
/// A user's first <c>dotnet run --project Demo.AppHost</c> (dashboard on, development certificate trusted per user) on
/// a fresh HOME, started when the collection starts and left running for its tests: the dev-certificate check reads
/// its console, the browser test drives its dashboard. It is not awaited here, so the collection's other AppHost
/// starts overlap its start.
/// </summary>
public sealed class FirstRunFixture : IAsyncLifetime
{
    public string Home { get; } = Directory.CreateTempSubdirectory("demo-fresh-home-").FullName;

    /// <summary>The system trust stores (names and sizes) before the first run started.</summary>
    public string SystemTrustStoresBefore { get; private set; } = "";

    public AppHostProcess AppHost => _appHost ?? throw new InvalidOperationException("The first run has not started.");

    /// <summary>The launch profiles' ports, held as a developer's own run would hold them while this run goes on.</summary>
    public DeveloperRunPorts DeveloperRun { get; } = DeveloperRunPorts.Hold(AppHostFixture.RepositoryRoot);

    private AppHostProcess? _appHost;

    public async ValueTask InitializeAsync()
    {
        SystemTrustStoresBefore = DevCertificateTests.SystemTrustStores();
        _appHost = await AppHostProcess.StartAsync(Home);
    }

    public async ValueTask DisposeAsync()
    {
        if (_appHost is not null)
        {
            await _appHost.DisposeAsync();
        }
        DeveloperRun.Dispose();
        await AppHostProcess.DeleteHomeAsync(Home);
    }
}

/// <summary>The AppHost's announcement, as <c>Demo.AppHost/DeveloperCertificateTrustExtensions.cs</c> prints it.</summary>
internal static class DeveloperCertificateTrust
{
    public const string Announcement =
        "Trusting the ASP.NET Core development certificate for this user only (dotnet dev-certs https --trust: ~/.dotnet and ~/.aspnet, nothing system-wide).";
}
