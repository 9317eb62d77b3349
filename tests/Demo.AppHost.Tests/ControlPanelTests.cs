using System.Net.Http.Json;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Demo.AppHost.Tests;

/// <summary>
/// Issue 10: the egress resource's commands switch scenarios at run time (the proxy's answers change), its
/// properties show the serving revision and scenarios, its health follows the configuration, and it links
/// Envoy's admin pages.
/// </summary>
[Collection(AppHostCollection.Name)]
[TestMethodOrderer(typeof(StepOrderer))]
public sealed class ControlPanelTests(AppHostFixture fixture, ITestOutputHelper output)
{
    private const string ApplyScenario = "istio-apply-scenario";
    private const string BackToDeploy = "istio-back-to-deploy";
    private const string Analyze = "istio-analyze";
    private const string V1Only = "virtual-service-hello-v1-only";
    private const string V1Body = "Hello K8s, from CF v1 service!";
    private const string V2Body = "Hello K8s, from CF v2 service!";
    private static readonly TimeSpan StepTimeout = TimeSpan.FromMinutes(2);

    [Fact, Step(1)]
    public async Task Egress_links_envoys_admin_pages_and_shows_the_serving_revision_with_no_scenario()
    {
        using var cts = new CancellationTokenSource(StepTimeout);
        // The AppHost is shared with AppHostTests, whose steps edit deploy/istio and restart egress (revision 1 again):
        // the property must show what the gateway serves now.
        await fixture.EnsureAllHealthyAsync(cts.Token);
        var urls = fixture.State("egress").Snapshot.Urls;
        using var client = new HttpClient();
        var admin = new Uri(urls.Single(u => u.Url.EndsWith("/clusters", StringComparison.Ordinal)).Url);
        var status = await client.GetFromJsonAsync<System.Text.Json.JsonElement>(new Uri(admin, "/status"), cts.Token);
        var serving = status.GetProperty("revision").GetInt32().ToString(System.Globalization.CultureInfo.InvariantCulture);
        var state = await fixture.WaitForStateAsync("egress", s => Property(s, "istio.revision") == serving, TimeSpan.FromSeconds(30), cts.Token);

        Assert.Equal("(none: deploy/istio)", Property(state, "istio.scenarios"));
        Assert.Empty(status.GetProperty("scenarios").EnumerateArray());
        urls = state.Snapshot.Urls;
        foreach (var (path, text) in new[] { ("/config_dump", "Envoy config_dump"), ("/clusters", "Envoy clusters"), ("/stats/prometheus", "Istio metrics (Prometheus)") })
        {
            Assert.Contains(urls, u => u.Url.EndsWith(path, StringComparison.Ordinal) && u.DisplayProperties.DisplayName == text);
        }
        var clusters = await client.GetStringAsync(urls.Single(u => u.Url.EndsWith("/clusters", StringComparison.Ordinal)).Url, cts.Token);
        Assert.Contains("outbound|443||hello-istio-v1.apps.example.com::", clusters, StringComparison.Ordinal);
    }

    [Fact, Step(2)]
    public async Task Apply_scenario_switches_the_proxys_answers_to_v1_only_and_back_to_deploy_istio_brings_v2_back()
    {
        using var cts = new CancellationTokenSource(StepTimeout);
        var ct = cts.Token;
        var commands = fixture.App.Services.GetRequiredService<ResourceCommandService>();
        var declared = fixture.App.Services.GetRequiredService<DistributedApplicationModel>().Resources.Single(r => r.Name == "egress")
            .Annotations.OfType<ResourceCommandAnnotation>().Single(c => c.Name == ApplyScenario);
        // The dashboard shows one checkbox per scenario file, labelled with its purpose; tick v1-only.
        var inputs = declared.Arguments.Select(a => new InteractionInput
        {
            Name = a.Name,
            Label = a.Label,
            Description = a.Description,
            InputType = a.InputType,
            Value = a.Name == V1Only ? "true" : "false",
        }).ToList();
        Assert.Contains(inputs, i => i.Name == V1Only && i.Description!.StartsWith("100% v1", StringComparison.Ordinal));
        var revision = int.Parse(Property(fixture.State("egress"), "istio.revision")!, System.Globalization.CultureInfo.InvariantCulture);

        var applied = await commands.ExecuteCommandAsync("egress", ApplyScenario, new InteractionInputCollection(inputs), ct);

        Assert.True(applied.Success, applied.Message);
        output.WriteLine(applied.Message ?? "");
        var answers = await AskProxyAsync(40, ct);
        Assert.DoesNotContain(V2Body, answers);
        Assert.Contains(V1Body, answers);
        var state = await fixture.WaitForStateAsync("egress", s => Property(s, "istio.scenarios") == V1Only, TimeSpan.FromSeconds(15), ct);
        Assert.Equal((revision + 1).ToString(System.Globalization.CultureInfo.InvariantCulture), Property(state, "istio.revision"));

        var analyzed = await commands.ExecuteCommandAsync("egress", Analyze, ct);
        Assert.True(analyzed.Success, analyzed.Message);
        Assert.Equal($"0 error(s), 0 warning(s) in deploy/istio + {V1Only}.", analyzed.Message);
        Assert.Contains("No errors or warnings", analyzed.Data?.Value, StringComparison.Ordinal);

        var reset = await commands.ExecuteCommandAsync("egress", BackToDeploy, ct);
        Assert.True(reset.Success, reset.Message);
        answers = await AskProxyAsync(60, ct);
        Assert.Contains(V2Body, answers);
        Assert.Contains(V1Body, answers);
        await fixture.WaitForStateAsync("egress", s => Property(s, "istio.scenarios") == "(none: deploy/istio)", TimeSpan.FromSeconds(15), ct);
    }

    [Fact, Step(3)]
    public async Task A_rejected_edit_makes_egress_degraded_with_file_and_line_and_a_good_edit_makes_it_healthy()
    {
        using var cts = new CancellationTokenSource(StepTimeout);
        var ct = cts.Token;
        const string file = "virtual-service-hello.yaml";
        var good = fixture.ReadIstioFile(file);
        try
        {
            fixture.WriteIstioFile(file, good.Replace("weight: 50", "weight: fifty", StringComparison.Ordinal));

            // Within seconds, not Aspire's 30 s re-check interval of a healthy resource.
            var degraded = await fixture.WaitForStateAsync("egress", s => s.Snapshot.HealthStatus == HealthStatus.Degraded,
                TimeSpan.FromSeconds(15), ct);
            var report = Assert.Single(degraded.Snapshot.HealthReports, r => r.Status == HealthStatus.Degraded);
            output.WriteLine(report.Description ?? "");
            Assert.Matches(@$"{System.Text.RegularExpressions.Regex.Escape(file)}:\d+: error: ", report.Description);
        }
        finally
        {
            fixture.WriteIstioFile(file, good);
        }
        await fixture.WaitForStateAsync("egress", s => s.Snapshot.HealthStatus == HealthStatus.Healthy, TimeSpan.FromSeconds(15), ct);
    }

    private async Task<List<string>> AskProxyAsync(int count, CancellationToken cancellationToken)
    {
        using var client = fixture.App.CreateHttpClient("proxy");
        var answers = new List<string>();
        for (var i = 0; i < count; i++)
        {
            using var response = await client.GetAsync("/", cancellationToken);
            answers.Add(await response.Content.ReadAsStringAsync(cancellationToken));
        }
        return answers;
    }

    private static string? Property(ResourceEvent state, string name) =>
        state.Snapshot.Properties.FirstOrDefault(p => p.Name == name)?.Value?.ToString();
}
