using System.Net;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace Demo.EgressGateway.Tests;

/// <summary>
/// Issue 10: the admin port switches scenarios at run time (no file edited, no restart), reports the configuration's
/// status and the analyzer's findings, and serves Envoy's <c>/clusters</c> and Istio's <c>/stats/prometheus</c>.
/// </summary>
public sealed partial class AdminApiTests
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    /// <summary>The gateway with both a mesh and an admin port, as the AppHost runs it.</summary>
    private static async Task<(GatewayHost Gateway, HttpClient Admin)> StartAsync(Action<ConfigFolder>? edit = null)
    {
        var (gateway, mesh, admin) = await GatewayHost.StartOnOwnPortsAsync(edit);
        Assert.Equal(mesh, gateway.Url.Port);
        return (gateway, new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{admin}/") });
    }

    [Fact]
    public async Task Scenarios_are_listed_with_the_first_comment_line_of_each_file_as_purpose()
    {
        var (gateway, admin) = await StartAsync();
        await using var _ = gateway;
        using var __ = admin;

        var scenarios = await admin.GetFromJsonAsync<JsonElement[]>("scenarios", Json);

        var names = scenarios!.Select(s => s.GetProperty("name").GetString()).ToList();
        var files = Directory.EnumerateFiles(Path.Combine(ConfigFolder.DeployIstio, "scenarios"), "*.yaml")
            .Select(Path.GetFileNameWithoutExtension).Order(StringComparer.Ordinal).ToList();
        Assert.Equal(files, names);
        var v1Only = scenarios!.Single(s => s.GetProperty("name").GetString() == "virtual-service-hello-v1-only");
        Assert.Equal("100% v1, 0% v2. Replaces VirtualService 'hello' (virtual-service-hello.yaml).", v1Only.GetProperty("purpose").GetString());
        Assert.False(v1Only.GetProperty("active").GetBoolean());
        Assert.All(scenarios!, s => Assert.False(string.IsNullOrWhiteSpace(s.GetProperty("purpose").GetString())));
    }

    [Fact]
    public async Task Applying_a_scenario_changes_the_split_at_run_time_without_editing_a_file_and_reset_goes_back()
    {
        var (gateway, admin) = await StartAsync(folder => folder.Write(MeshYaml.EgressFile, MeshYaml.Egress()));
        await using var _ = gateway;
        using var __ = admin;
        var before = Snapshot(gateway.ConfigDirectory);

        var applied = await admin.PostAsJsonAsync("scenarios/apply", new { scenarios = new[] { "virtual-service-hello-v1-only" } });
        Assert.Equal(HttpStatusCode.OK, applied.StatusCode);
        var status = (await applied.Content.ReadFromJsonAsync<JsonElement>(Json)).GetProperty("status");
        Assert.Equal(2, status.GetProperty("revision").GetInt32());
        Assert.Equal(["virtual-service-hello-v1-only"], status.GetProperty("scenarios").EnumerateArray().Select(e => e.GetString()));

        var answers = await GetManyAsync(gateway, 40);
        Assert.All(answers, a => Assert.Equal((200, "Hello K8s, from CF v1 service!"), a));
        var listed = await admin.GetFromJsonAsync<JsonElement[]>("scenarios", Json);
        Assert.True(listed!.Single(s => s.GetProperty("name").GetString() == "virtual-service-hello-v1-only").GetProperty("active").GetBoolean());

        var reset = await admin.PostAsync("scenarios/reset", null);
        Assert.Equal(HttpStatusCode.OK, reset.StatusCode);
        var back = await admin.GetFromJsonAsync<JsonElement>("status", Json);
        Assert.Equal(3, back.GetProperty("revision").GetInt32());
        Assert.Empty(back.GetProperty("scenarios").EnumerateArray());
        answers = await GetManyAsync(gateway, 60);
        Assert.Contains(answers, a => a.Body == "Hello K8s, from CF v2 service!");
        Assert.Contains(answers, a => a.Body == "Hello K8s, from CF v1 service!");

        Assert.Equal(before, Snapshot(gateway.ConfigDirectory));
    }

    // "Apply scenario…" offers one checkbox per file: a sidecar-side and a gateway-side scenario ticked together both apply.
    [Fact]
    public async Task Several_scenarios_apply_together_one_replacing_the_sidecars_routes_and_one_the_gateways()
    {
        var (gateway, admin) = await StartAsync(folder => folder.Write(MeshYaml.EgressFile, MeshYaml.Egress()));
        await using var _ = gateway;
        using var __ = admin;
        string[] both = ["virtual-service-hello-egress-fault-abort", "virtual-service-hello-v1-only"];

        var applied = await admin.PostAsJsonAsync("scenarios/apply", new { scenarios = both });

        Assert.Equal(HttpStatusCode.OK, applied.StatusCode);
        var status = (await applied.Content.ReadFromJsonAsync<JsonElement>(Json)).GetProperty("status");
        Assert.Equal(both, status.GetProperty("scenarios").EnumerateArray().Select(e => e.GetString()).Order(StringComparer.Ordinal));
        // v1-only: 100% v1; fault-abort: 418 "fault filter abort" on 50% at the gateway (Envoy's abort body).
        var answers = await GetManyAsync(gateway, 60);
        Assert.All(answers, a => Assert.True(a == (200, "Hello K8s, from CF v1 service!") || a == (418, "fault filter abort"), a.ToString()));
        Assert.Contains((418, "fault filter abort"), answers);
        Assert.Contains((200, "Hello K8s, from CF v1 service!"), answers);
    }

    [Fact]
    public async Task An_unknown_scenario_is_rejected_with_422_and_the_serving_revision_and_its_scenarios_stay()
    {
        var (gateway, admin) = await StartAsync(folder => folder.Write(MeshYaml.EgressFile, MeshYaml.Egress()));
        await using var _ = gateway;
        using var __ = admin;
        await admin.PostAsJsonAsync("scenarios/apply", new { scenarios = new[] { "virtual-service-hello-v1-only" } });

        var rejected = await admin.PostAsJsonAsync("scenarios/apply", new { scenarios = new[] { "no-such-scenario" } });

        Assert.Equal(HttpStatusCode.UnprocessableEntity, rejected.StatusCode);
        var body = await rejected.Content.ReadFromJsonAsync<JsonElement>(Json);
        Assert.False(body.GetProperty("applied").GetBoolean());
        Assert.Contains("no-such-scenario", body.GetProperty("findings")[0].GetProperty("text").GetString(), StringComparison.Ordinal);
        var status = await admin.GetFromJsonAsync<JsonElement>("status", Json);
        Assert.Equal(2, status.GetProperty("revision").GetInt32());
        Assert.Equal(["virtual-service-hello-v1-only"], status.GetProperty("scenarios").EnumerateArray().Select(e => e.GetString()));
        Assert.NotEqual(JsonValueKind.Null, status.GetProperty("rejection").ValueKind);
        Assert.All(await GetManyAsync(gateway, 10), a => Assert.Equal(200, a.Status));
    }

    [Fact]
    public async Task Status_names_the_rejected_edit_by_file_and_line_until_a_good_edit_applies()
    {
        var (gateway, admin) = await StartAsync();
        await using var _ = gateway;
        using var __ = admin;
        var good = File.ReadAllText(Path.Combine(gateway.ConfigDirectory, MeshYaml.SidecarFile));
        var initial = await admin.GetFromJsonAsync<JsonElement>("status", Json);
        Assert.Equal(JsonValueKind.Null, initial.GetProperty("rejection").ValueKind);

        // Edited as a user would: the gateway's file watcher re-applies the folder.
        ConfigFolder.WriteWhole(Path.Combine(gateway.ConfigDirectory, MeshYaml.SidecarFile), good.Replace("weight: 50", "weight: fifty", StringComparison.Ordinal));
        var rejected = await PollStatusAsync(admin, s => s.GetProperty("rejection").ValueKind != JsonValueKind.Null);
        var error = rejected.GetProperty("rejection").GetProperty("errors")[0];
        Assert.Equal(1, rejected.GetProperty("revision").GetInt32());
        Assert.EndsWith(MeshYaml.SidecarFile, error.GetProperty("file").GetString(), StringComparison.Ordinal);
        Assert.True(error.GetProperty("line").GetInt32() > 0);
        Assert.Matches(FileLine(), error.GetProperty("text").GetString()!);

        ConfigFolder.WriteWhole(Path.Combine(gateway.ConfigDirectory, MeshYaml.SidecarFile), good);
        var healed = await PollStatusAsync(admin, s => s.GetProperty("rejection").ValueKind == JsonValueKind.Null);
        Assert.True(healed.GetProperty("revision").GetInt32() >= 2);
    }

    private static async Task<JsonElement> PollStatusAsync(HttpClient admin, Func<JsonElement, bool> done)
    {
        var deadline = DateTime.UtcNow.AddSeconds(15);
        while (true)
        {
            var status = await admin.GetFromJsonAsync<JsonElement>("status", Json);
            if (done(status) || DateTime.UtcNow > deadline)
            {
                return status;
            }
            await Task.Delay(50);
        }
    }

    [Fact]
    public async Task Analyze_returns_the_analyzers_findings_as_json()
    {
        var (gateway, admin) = await StartAsync(RoutingTests.RemoveHostRewrites);
        await using var _ = gateway;
        using var __ = admin;

        var analysis = await admin.GetFromJsonAsync<JsonElement>("analyze", Json);

        var expected = IstioAnalyzeCommand.Analyze(gateway.ConfigDirectory, [], new Istio.MeshEnvironment(
            Istio.MeshEnvironment.DefaultEgressGatewayService, new Dictionary<string, string> { ["istio"] = "egressgateway" }));
        var findings = analysis.GetProperty("findings").EnumerateArray().ToList();
        Assert.NotEmpty(expected);
        Assert.Equal(expected.Select(d => d.ToString()), findings.Select(f => f.GetProperty("text").GetString()));
        Assert.Equal(expected.Select(d => d.Line), findings.Select(f => f.GetProperty("line").ValueKind == JsonValueKind.Null ? (int?)null : f.GetProperty("line").GetInt32()));
        Assert.Contains(findings, f => f.GetProperty("severity").GetString() == "warning"
            && f.GetProperty("field").GetString()!.EndsWith("headers.request.set.host", StringComparison.Ordinal));

        var clean = await admin.GetFromJsonAsync<JsonElement>("analyze?scenario=virtual-service-hello-v1-only", Json);
        Assert.Equal(["virtual-service-hello-v1-only"], clean.GetProperty("scenarios").EnumerateArray().Select(e => e.GetString()));
    }

    [Fact]
    public async Task Clusters_lists_each_cluster_in_envoys_text_format_with_counters_and_the_ejection()
    {
        var (gateway, admin) = await StartAsync(folder =>
        {
            folder.Write(MeshYaml.SidecarFile, MeshYaml.Sidecar(50, 50, retries: MeshYaml.Retries(0, "5xx")));
            folder.Write(MeshYaml.EgressFile, MeshYaml.Egress());
            // deploy/istio's v2 rule ejects after 3 consecutive gateway errors, for 15 s.
        });
        await using var _ = gateway;
        using var __ = admin;
        gateway.Upstream.Behaviour = async context =>
        {
            if (context.Request.Host.Host != GatewayHost.V2Host)
            {
                return false;
            }
            context.Response.StatusCode = 503;
            await context.Response.WriteAsync("v2 is down");
            return true;
        };
        var answers = await GetManyAsync(gateway, 40);

        var text = await admin.GetStringAsync("clusters");

        var lines = text.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.All(lines, l => Assert.Matches(EnvoyClusterLine(), l));
        const string v1 = "outbound|443||hello-istio-v1.apps.example.com";
        const string v2 = "outbound|443||hello-istio-v2.apps.example.com";
        var v1Host = $"{v1}::{gateway.Upstream.Endpoint}";
        var v2Host = $"{v2}::{gateway.Upstream.Endpoint}";
        Assert.Contains($"{v1}::default_priority::max_connections::4294967295", lines);
        Assert.Contains($"{v1Host}::health_flags::healthy", lines);
        Assert.Contains($"{v2Host}::health_flags::/failed_outlier_check", lines);
        Assert.Contains($"{v1Host}::hostname::hello-istio-v1.apps.example.com", lines);
        var v1Answers = answers.Count(a => a.Status == 200);
        Assert.Contains($"{v1Host}::rq_success::{v1Answers}", lines);
        Assert.Contains($"{v1Host}::rq_error::0", lines);
        Assert.Contains($"{v2Host}::rq_error::3", lines);
        Assert.Contains(lines, l => l.StartsWith($"{v1Host}::cx_active::", StringComparison.Ordinal) && !l.EndsWith("::0", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.StartsWith("outbound|443|v1|istio-egressgateway.istio-system.svc.cluster.local::", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Admin_routes_are_not_served_on_the_mesh_port()
    {
        var (gateway, admin) = await StartAsync();
        await using var _ = gateway;
        using var __ = admin;
        using var direct = new HttpClient();

        // The mesh port treats it as a request for its Host (localhost:<port>): no HTTP listener for that port in the
        // sidecar, so the connection goes to the BlackHoleCluster and is closed.
        await Assert.ThrowsAsync<HttpRequestException>(() => direct.GetAsync(new Uri(gateway.Url, "/status")));
    }

    private static async Task<List<(int Status, string Body)>> GetManyAsync(GatewayHost gateway, int count)
    {
        var answers = new List<(int, string)>();
        for (var i = 0; i < count; i++)
        {
            answers.Add(await gateway.GetAsync());
        }
        return answers;
    }

    private static string Snapshot(string directory) => string.Join('\n', Directory
        .EnumerateFiles(directory, "*", SearchOption.AllDirectories).Order(StringComparer.Ordinal)
        .Select(f => $"{f} {File.GetLastWriteTimeUtc(f):O} {new FileInfo(f).Length}"));


    [GeneratedRegex(@"^[^:]+\.yaml:\d+: error: ")]
    private static partial Regex FileLine();

    [GeneratedRegex(@"^outbound\|\d+\|[^|]*\|[^:]+::[a-z_0-9.:\[\]-]+::\S*$")]
    private static partial Regex EnvoyClusterLine();
}
