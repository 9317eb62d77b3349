namespace Demo.AppHost.Tests;

/// <summary>
/// <c>dotnet run --project Demo.AppHost -- --Pattern &lt;name&gt;</c> for each pattern of deploy/istio/patterns: the
/// same caller → proxy → sidecar → (gateway) → CF router → CF app path runs, and the caller prints the seed's lines
/// with what that pattern can do (tests/Demo.EgressGateway.Tests PatternTests shows each hop's part).
/// </summary>
public sealed class PatternRunTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromMinutes(1);

    public static TheoryData<string> Patterns => ["passthrough-at-gateway", "origination-at-sidecar", "mutual-tls-origination"];

    [Theory]
    [MemberData(nameof(Patterns))]
    public async Task The_pattern_runs_the_demo_end_to_end(string pattern)
    {
        await using var run = new AppHostFixture(pattern);
        await run.InitializeAsync();
        using var cts = new CancellationTokenSource(Patience);

        var caller = await run.WaitForCallerAsync(c => c.Lines.Count >= 24, Patience, "24 lines", cts.Token);
        var outcomes = caller.Lines.Select(l => l.Outcome).ToHashSet();

        Assert.Empty(caller.Malformed);
        Assert.DoesNotContain(Outcome.Failure, outcomes);
        switch (pattern)
        {
            // The app's TLS names one host; the mesh sees TLS only: no split, no fault.
            case "passthrough-at-gateway":
                Assert.Equal([Outcome.V1], outcomes);
                break;
            // The sidecar's own weights reach both apps; this pattern injects no fault.
            case "origination-at-sidecar":
                Assert.Equal([Outcome.V1, Outcome.V2], outcomes.Order());
                break;
            // The default's routes with a client certificate: both apps, and the gateway's fault.
            default:
                Assert.Contains(Outcome.V1, outcomes);
                Assert.Contains(Outcome.V2, outcomes);
                break;
        }
    }

    [Fact]
    public async Task An_unknown_pattern_is_refused_naming_the_setting_the_value_and_the_patterns()
    {
        var error = await Assert.ThrowsAnyAsync<Exception>(async () =>
        {
            using var cts = new CancellationTokenSource(TimeSpan.FromMinutes(1));
            var builder = await DistributedApplicationTestingBuilder.CreateAsync<Projects.Demo_AppHost>(["Pattern=passthrough", "DevCertificates:Trust=false"], cts.Token);
            await using var app = await builder.BuildAsync(cts.Token);
        });

        Assert.Contains("--Pattern 'passthrough' is not a pattern; choose one of: tls-origination-at-gateway, passthrough-at-gateway, "
            + "origination-at-sidecar, mutual-tls-origination.", error.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void Every_pattern_folder_is_a_pattern_the_AppHost_offers()
    {
        var folders = Directory.EnumerateDirectories(Path.Combine(AppHostFixture.RepositoryRoot, "deploy", "istio", "patterns"))
            .Select(Path.GetFileName).Order(StringComparer.Ordinal);
        Assert.Equal(folders, Patterns.Select(p => (string)p.Data).Order(StringComparer.Ordinal));
    }
}
