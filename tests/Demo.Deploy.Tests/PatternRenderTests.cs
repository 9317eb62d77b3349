using System.Text.Json.Nodes;
using Demo.EgressGateway.Istio;

namespace Demo.Deploy.Tests;

/// <summary>
/// Each folder of deploy/istio/patterns, selected by the one line deploy/README.md documents, renders with deploy/'s
/// kustomize: its objects in the configured namespaces, with the configured CF hostnames wherever the pattern has the
/// example ones, valid against Istio's CRDs, clean for the analyzer — and the proxy calls what the pattern routes.
/// </summary>
[Collection(DeployCollection.Name)]
public sealed class PatternRenderTests(DeployFixture fixture)
{
    public static TheoryData<string> Patterns => [.. Directory.EnumerateDirectories(Path.Combine(Repository.DeployIstio, "patterns"))
        .Select(Path.GetFileName).OfType<string>().Order(StringComparer.Ordinal)];

    [Theory]
    [MemberData(nameof(Patterns))]
    public async Task The_pattern_renders_into_the_configured_namespaces_with_the_configured_hostnames(string pattern)
    {
        var folder = Path.Combine(Repository.DeployIstio, "patterns", pattern);
        var local = IstioConfigLoader.LoadDirectory(folder);
        Assert.Empty(local.Diagnostics);
        var patternDocuments = (await DeployTree.RenderFolderAsync(folder)).ToList();
        // Where the app does TLS itself, the proxy's URL is https: published as deploy/README.md says (Pattern in the
        // environment of `aspirate generate`, which runs the AppHost's publisher).
        var appDoesTls = patternDocuments.Single(d => d.Kind == "VirtualService" && d.Name == "hello").Spec["tls"] is not null;
        using var published = new TempFolder();
        using var patternBase = appDoesTls ? await DeployTree.CreateAsync(await PublishedManifest.PublishAsync(published.Path, "--Pattern", pattern)) : null;

        foreach (var settings in new[] { null, SettingsAndScenarioTests.OtherCluster })
        {
            using var tree = DeployTree.CopyOf(patternBase ?? fixture.Tree);
            tree.SelectPattern(pattern);
            foreach (var (key, value) in settings ?? new Dictionary<string, string>())
            {
                tree.SetSetting(key, value);
            }
            var documents = await tree.RenderAsync();
            var app = settings?["appNamespace"] ?? DeployTree.AppNamespace;
            var egress = settings?["egressGatewayNamespace"] ?? "istio-system";
            var what = $"{pattern} ({(settings is null ? "default settings" : "other cluster")})";

            foreach (var expected in patternDocuments)
            {
                var rendered = Assert.Single(documents, d => d.Kind == expected.Kind && d.Name == expected.Name);
                var expectedSpec = expected.Spec.DeepClone();
                if (settings is not null)
                {
                    expectedSpec = JsonNode.Parse(expectedSpec.ToJsonString()
                        .Replace(SettingsAndScenarioTests.V1, settings["cfHostV1"], StringComparison.Ordinal)
                        .Replace(SettingsAndScenarioTests.V2, settings["cfHostV2"], StringComparison.Ordinal)
                        .Replace("istio-egressgateway.istio-system.", $"istio-egressgateway.{egress}.", StringComparison.Ordinal))!;
                }
                Assert.True(JsonNode.DeepEquals(expectedSpec, rendered.Spec), $"{what}: {rendered} is\n{rendered.Spec}\nbut the pattern says\n{expectedSpec}");
                var expectedNamespace = expected.Namespace == "istio-system" ? egress : app;
                Assert.True(expectedNamespace == rendered.Namespace, $"{what}: {rendered} is not in {expectedNamespace}");
            }
            // Nothing of the default pattern's Istio configuration is left beside the pattern's.
            Assert.All(documents.Where(d => d.Group == IstioConfigLoader.ApiGroup && d.Kind != "Sidecar"),
                d => Assert.Contains(patternDocuments, p => p.Kind == d.Kind && p.Name == d.Name));

            if (settings is not null)
            {
                var text = string.Join("---\n", documents.Select(d => d.Yaml));
                Assert.DoesNotContain("apps.example.com", text, StringComparison.Ordinal);
                Assert.DoesNotContain("istio-system", text, StringComparison.Ordinal);
            }

            var hello = Assert.Single(documents, d => d.Kind == "VirtualService" && d.Name == "hello");
            var proxyEnv = Assert.Single(documents, d => d.Kind == "ConfigMap" && d.Name.StartsWith("proxy-env", StringComparison.Ordinal));
            var upstream = new Uri((string)proxyEnv.Json["data"]!["Upstream__BaseAddress"]!);
            Assert.Equal((string)hello.Spec["hosts"]![0]!, upstream.Host);
            Assert.Equal(appDoesTls ? "https" : "http", upstream.Scheme);

            var (_, diagnostics) = AnalyzerTests.Analyze(documents, egress);
            Assert.True(diagnostics.Count == 0, $"{what}:\n" + string.Join("\n", diagnostics));
            var schemaFindings = documents.Where(d => d.Group.EndsWith("istio.io", StringComparison.Ordinal)).SelectMany(IstioSchemas.Validate).ToList();
            Assert.True(schemaFindings.Count == 0, $"{what}:\n" + string.Join("\n", schemaFindings));
        }
    }

    [Fact]
    public void The_pattern_line_of_deploy_kustomization_is_where_the_tests_put_it()
    {
        var text = File.ReadAllText(Path.Combine(Repository.Deploy, "kustomization.yaml"));
        Assert.Contains(DeployTree.PatternLine, text, StringComparison.Ordinal);
        var readme = File.ReadAllText(Path.Combine(Repository.Deploy, "README.md"));
        Assert.Contains("istio/patterns/<name>", readme, StringComparison.Ordinal);
    }
}
