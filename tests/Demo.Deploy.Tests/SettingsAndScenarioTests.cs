using System.Text.Json.Nodes;
using Demo.EgressGateway.Istio;

namespace Demo.Deploy.Tests;

/// <summary>deploy/settings.yaml is the one place for namespaces, DNS and CF hostnames; scenarios switch by one line.</summary>
[Collection(DeployCollection.Name)]
public sealed class SettingsAndScenarioTests(DeployFixture fixture)
{
    internal const string V1 = "hello-istio-v1.apps.example.com";
    internal const string V2 = "hello-istio-v2.apps.example.com";

    /// <summary>Settings other than the defaults in every field, as a user of another cluster would have them.</summary>
    internal static readonly IReadOnlyDictionary<string, string> OtherCluster = new Dictionary<string, string>
    {
        ["appNamespace"] = "shop",
        ["egressGatewayNamespace"] = "istio-egress",
        ["istioNamespace"] = "istio-control",
        ["nodeLocalDnsAddress"] = "169.254.25.10",
        ["clusterDnsAddress"] = "10.43.0.10",
        ["cfHostV1"] = "hello-one.cf.example.org",
        ["cfHostV2"] = "hello-two.cf.example.org",
    };

    [Fact]
    public async Task Changing_settings_yaml_alone_moves_every_name_and_host()
    {
        using var tree = DeployTree.CopyOf(fixture.Tree);
        foreach (var (key, value) in OtherCluster)
        {
            tree.SetSetting(key, value);
        }

        var documents = await tree.RenderAsync();
        var text = string.Join("---\n", documents.Select(d => d.Yaml));

        Assert.DoesNotContain("apps.example.com", text, StringComparison.Ordinal);
        Assert.DoesNotContain("istio-system", text, StringComparison.Ordinal);
        Assert.DoesNotContain("169.254.20.10", text, StringComparison.Ordinal);
        Assert.DoesNotContain("10.96.0.10", text, StringComparison.Ordinal);
        Assert.DoesNotContain(documents, d => d.Namespace == DeployTree.AppNamespace || (d.Kind == "Namespace" && d.Name == DeployTree.AppNamespace));
        Assert.All(documents.Where(d => d.Kind != "Namespace"), d => Assert.Contains(d.Namespace, new[] { "shop", "istio-egress" }));
        Assert.Contains("cluster.local/ns/shop/sa/proxy", text, StringComparison.Ordinal);
        Assert.Contains("host: istio-egressgateway.istio-egress.svc.cluster.local", text, StringComparison.Ordinal);
        Assert.Contains("sni: hello-one.cf.example.org", text, StringComparison.Ordinal);
        Assert.Contains("host: hello-two.cf.example.org", text, StringComparison.Ordinal);
        Assert.Contains("./hello-one.cf.example.org", text, StringComparison.Ordinal);
        Assert.Contains("cidr: 169.254.25.10/32", text, StringComparison.Ordinal);
        Assert.Contains("cidr: 10.43.0.10/32", text, StringComparison.Ordinal);
        Assert.Contains("kubernetes.io/metadata.name: istio-control", text, StringComparison.Ordinal);

        var (_, diagnostics) = AnalyzerTests.Analyze(documents, "istio-egress");
        Assert.True(diagnostics.Count == 0, string.Join("\n", diagnostics));
        var schemaFindings = documents.Where(d => d.Group.EndsWith("istio.io", StringComparison.Ordinal)).SelectMany(IstioSchemas.Validate).ToList();
        Assert.True(schemaFindings.Count == 0, string.Join("\n", schemaFindings));
    }

    [Fact]
    public async Task Moving_only_the_egress_gateway_keeps_istiod_where_it_is()
    {
        using var tree = DeployTree.CopyOf(fixture.Tree);
        tree.SetSetting("egressGatewayNamespace", "istio-egress");
        var documents = await tree.RenderAsync();

        string PolicyNamespace(string name) => (string)Assert.Single(documents, d => d.Kind == "NetworkPolicy" && d.Name == name)
            .Spec["egress"]![0]!["to"]![0]!["namespaceSelector"]!["matchLabels"]!["kubernetes.io/metadata.name"]!;
        Assert.Equal("istio-system", PolicyNamespace("app-egress-istiod"));
        Assert.Equal("istio-egress", PolicyNamespace("app-egress-egress-gateway"));
    }

    /// <summary>
    /// Every scenario, selected by the one line deploy/README.md documents, renders as the local gateway applies it
    /// (its resources replace those of the same kind and name; a scenario without exportTo keeps the base's, as
    /// kustomize merges maps) — with the default settings, and with every setting changed: then in the configured
    /// namespaces, with the configured hostnames in exactly the places the scenario has the example ones.
    /// </summary>
    [Fact]
    public async Task Each_scenario_renders_into_the_configured_namespaces_with_the_configured_hostnames()
    {
        Assert.NotEmpty(Scenarios.Names);
        foreach (var scenario in Scenarios.Names)
        {
            var replacements = IstioConfigLoader.LoadFile(Path.Combine(Scenarios.Folder, scenario + ".yaml"));
            Assert.Empty(replacements.Diagnostics);
            var scenarioDocuments = RenderedDocument.ParseAll(await File.ReadAllTextAsync(Path.Combine(Scenarios.Folder, scenario + ".yaml")));

            foreach (var settings in new[] { null, OtherCluster })
            {
                var documents = await RenderScenariosAsync(fixture.Tree, settings, scenario);
                var app = settings?["appNamespace"] ?? DeployTree.AppNamespace;
                var egress = settings?["egressGatewayNamespace"] ?? "istio-system";
                foreach (var expected in scenarioDocuments)
                {
                    var rendered = Assert.Single(documents, d => d.Kind == expected.Kind && d.Name == expected.Name);
                    var expectedSpec = expected.Spec.DeepClone().AsObject();
                    if (!expectedSpec.ContainsKey("exportTo") && fixture.Whole.Single(d => d.Kind == expected.Kind && d.Name == expected.Name).Spec["exportTo"] is { } exportTo)
                    {
                        expectedSpec["exportTo"] = exportTo.DeepClone();
                    }
                    if (settings is not null)
                    {
                        expectedSpec = (JsonObject)JsonNode.Parse(expectedSpec.ToJsonString()
                            .Replace(V1, settings["cfHostV1"], StringComparison.Ordinal)
                            .Replace(V2, settings["cfHostV2"], StringComparison.Ordinal)
                            .Replace("istio-egressgateway.istio-system.", $"istio-egressgateway.{egress}.", StringComparison.Ordinal))!;
                    }
                    Assert.True(JsonNode.DeepEquals(expectedSpec, rendered.Spec),
                        $"scenario {scenario} ({(settings is null ? "default settings" : "other cluster")}): {rendered} is\n{rendered.Spec}\nbut the scenario says\n{expectedSpec}");
                    var expectedNamespace = expected.Name == "hello-egress" ? egress : app;
                    Assert.True(expectedNamespace == rendered.Namespace, $"scenario {scenario}: {rendered} is not in {expectedNamespace}");
                }

                var (_, diagnostics) = AnalyzerTests.Analyze(documents, egress);
                Assert.True(diagnostics.Count == 0, $"scenario {scenario}:\n" + string.Join("\n", diagnostics));
                var schemaFindings = documents.Where(d => d.Group.EndsWith("istio.io", StringComparison.Ordinal)).SelectMany(IstioSchemas.Validate).ToList();
                Assert.True(schemaFindings.Count == 0, $"scenario {scenario}:\n" + string.Join("\n", schemaFindings));
            }
        }
    }

    [Fact]
    public async Task A_sidecar_side_and_a_gateway_side_scenario_combine()
    {
        var documents = await RenderScenariosAsync(fixture.Tree, OtherCluster, "virtual-service-hello-header-route", "virtual-service-hello-egress-fault-delay");
        var hello = Assert.Single(documents, d => d.Kind == "VirtualService" && d.Name == "hello");
        Assert.Equal(["hello-jason", "hello-default"], hello.Spec["http"]!.AsArray().Select(r => (string)r!["name"]!));
        var egress = Assert.Single(documents, d => d.Kind == "VirtualService" && d.Name == "hello-egress");
        Assert.Equal("istio-egress", egress.Namespace);
        Assert.All(egress.Spec["http"]!.AsArray(), r => Assert.Equal("3s", (string?)r!["fault"]!["delay"]!["fixedDelay"]));
    }

    [Fact]
    public async Task Aspirates_output_without_the_dashboard_renders_too()
    {
        using var tree = DeployTree.CopyOf(fixture.Tree);
        var kustomization = Path.Combine(tree.AspirateOutput, "kustomization.yaml");
        await File.WriteAllTextAsync(kustomization, (await File.ReadAllTextAsync(kustomization)).Replace("  - dashboard.yaml\n", "", StringComparison.Ordinal));
        File.Delete(Path.Combine(tree.AspirateOutput, "dashboard.yaml"));

        var documents = await tree.RenderAsync();
        Assert.DoesNotContain(documents, d => d.Name == "aspire-dashboard");
        Assert.Contains(documents, d => d.Kind == "Telemetry");
    }

    [Fact]
    public void The_scenario_line_of_deploy_kustomization_is_where_the_tests_put_it()
    {
        var text = File.ReadAllText(Path.Combine(Repository.Deploy, "kustomization.yaml"));
        Assert.Contains("\npatches:\n", text, StringComparison.Ordinal);
        Assert.Contains(DeployTree.ScenarioLine, text, StringComparison.Ordinal);
        var readme = File.ReadAllText(Path.Combine(Repository.Deploy, "README.md"));
        Assert.Contains(DeployTree.ScenarioLine.Trim(), readme, StringComparison.Ordinal);
    }

    /// <summary>Renders a copy of <paramref name="tree"/> with <paramref name="settings"/> (null: the defaults) and the scenarios selected.</summary>
    internal static async Task<IReadOnlyList<RenderedDocument>> RenderScenariosAsync(
        DeployTree tree, IReadOnlyDictionary<string, string>? settings, params string[] scenarios)
    {
        using var copy = DeployTree.CopyOf(tree);
        foreach (var (key, value) in settings ?? new Dictionary<string, string>())
        {
            copy.SetSetting(key, value);
        }
        foreach (var scenario in scenarios)
        {
            copy.AddScenario(scenario + ".yaml");
        }
        return await copy.RenderAsync();
    }
}
