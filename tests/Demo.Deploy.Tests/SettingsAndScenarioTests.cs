using System.Text.Json.Nodes;
using Demo.EgressGateway.Istio;

namespace Demo.Deploy.Tests;

/// <summary>deploy/settings.yaml is the one place for namespaces and CF hostnames; scenarios switch by one line.</summary>
[Collection(DeployCollection.Name)]
public sealed class SettingsAndScenarioTests(DeployFixture fixture)
{
    [Fact]
    public async Task Changing_settings_yaml_alone_moves_every_name_and_host()
    {
        using var tree = await DeployTree.CreateAsync(fixture.Manifest);
        tree.SetSetting("appNamespace", "shop");
        tree.SetSetting("egressGatewayNamespace", "istio-egress");
        tree.SetSetting("cfHostV1", "hello-one.cf.example.org");
        tree.SetSetting("cfHostV2", "hello-two.cf.example.org");

        var documents = await tree.RenderAsync();
        var text = string.Join("---\n", documents.Select(d => d.Yaml));

        Assert.DoesNotContain("apps.example.com", text, StringComparison.Ordinal);
        Assert.DoesNotContain("istio-system", text, StringComparison.Ordinal);
        Assert.DoesNotContain(documents, d => d.Namespace == DeployTree.AppNamespace || (d.Kind == "Namespace" && d.Name == DeployTree.AppNamespace));
        Assert.All(documents.Where(d => d.Kind != "Namespace"), d => Assert.Contains(d.Namespace, new[] { "shop", "istio-egress" }));
        Assert.Contains("cluster.local/ns/shop/sa/proxy", text, StringComparison.Ordinal);
        Assert.Contains("host: istio-egressgateway.istio-egress.svc.cluster.local", text, StringComparison.Ordinal);
        Assert.Contains("sni: hello-one.cf.example.org", text, StringComparison.Ordinal);
        Assert.Contains("host: hello-two.cf.example.org", text, StringComparison.Ordinal);
        Assert.Contains("./hello-one.cf.example.org", text, StringComparison.Ordinal);

        var (_, diagnostics) = AnalyzerTests.Analyze(documents, "istio-egress");
        Assert.True(diagnostics.Count == 0, string.Join("\n", diagnostics));
        var schemaFindings = documents.Where(d => d.Group.EndsWith("istio.io", StringComparison.Ordinal)).SelectMany(IstioSchemas.Validate).ToList();
        Assert.True(schemaFindings.Count == 0, string.Join("\n", schemaFindings));
    }

    /// <summary>
    /// A scenario renders as the local gateway applies it, or — when it renames the routes that deploy/replacements.yaml
    /// rewrites hostnames in — kustomize refuses it naming the field. Never a silently different configuration.
    /// </summary>
    [Fact]
    public async Task Each_scenario_renders_as_the_local_gateway_applies_it_or_fails_loudly()
    {
        var renderedCount = 0;
        foreach (var scenario in Scenarios.Names)
        {
            using var tree = await DeployTree.CreateAsync(fixture.Manifest);
            tree.AddScenario(scenario + ".yaml");
            IReadOnlyList<RenderedDocument> documents;
            try
            {
                documents = await tree.RenderAsync();
            }
            catch (InvalidOperationException ex) when (ex.Message.Contains("in replacement target", StringComparison.Ordinal))
            {
                Assert.Contains("unable to find field", ex.Message, StringComparison.Ordinal);
                continue;
            }
            renderedCount++;

            // Locally a scenario's resources replace those of the same kind and name: the render must hold them as
            // written, except that a scenario without exportTo keeps the base's (kustomize merges maps, replaces lists).
            var replacements = IstioConfigLoader.LoadFile(Path.Combine(Scenarios.Folder, scenario + ".yaml"));
            Assert.Empty(replacements.Diagnostics);
            var scenarioDocuments = RenderedDocument.ParseAll(await File.ReadAllTextAsync(Path.Combine(Scenarios.Folder, scenario + ".yaml")));
            foreach (var expected in scenarioDocuments)
            {
                var rendered = Assert.Single(documents, d => d.Kind == expected.Kind && d.Name == expected.Name);
                var expectedSpec = expected.Spec.DeepClone().AsObject();
                if (!expectedSpec.ContainsKey("exportTo") && fixture.Whole.Single(d => d.Kind == expected.Kind && d.Name == expected.Name).Spec["exportTo"] is { } exportTo)
                {
                    expectedSpec["exportTo"] = exportTo.DeepClone();
                }
                Assert.True(JsonNode.DeepEquals(expectedSpec, rendered.Spec), $"scenario {scenario}: {rendered} is\n{rendered.Spec}\nbut the scenario says\n{expectedSpec}");
            }

            var (_, diagnostics) = AnalyzerTests.Analyze(documents);
            Assert.True(diagnostics.Count == 0, $"scenario {scenario}:\n" + string.Join("\n", diagnostics));
            var schemaFindings = documents.Where(d => d.Group.EndsWith("istio.io", StringComparison.Ordinal)).SelectMany(IstioSchemas.Validate).ToList();
            Assert.True(schemaFindings.Count == 0, $"scenario {scenario}:\n" + string.Join("\n", schemaFindings));
        }
        Assert.True(Scenarios.Names.Count == 0 || renderedCount > 0, "no scenario renders in the cluster layout");
    }

    [Fact]
    public void The_scenario_line_of_deploy_kustomization_is_where_the_tests_put_it()
    {
        var text = File.ReadAllText(Path.Combine(Repository.Deploy, "kustomization.yaml"));
        Assert.Contains("\npatches:\n", text, StringComparison.Ordinal);
        Assert.Contains("istio/scenarios/<name>.yaml", text, StringComparison.Ordinal);
    }
}
