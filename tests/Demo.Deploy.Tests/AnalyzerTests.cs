using Demo.EgressGateway;
using Demo.EgressGateway.Istio;

namespace Demo.Deploy.Tests;

/// <summary>The local gateway's loader and analyzer (like istioctl analyze) on what the cluster would get.</summary>
[Collection(DeployCollection.Name)]
public sealed class AnalyzerTests(DeployFixture fixture)
{
    private static readonly string[] LoaderKinds = ["ServiceEntry", "Gateway", "DestinationRule", "VirtualService"];

    [Fact]
    public void The_rendered_traffic_configuration_has_no_findings()
    {
        var (config, diagnostics) = Analyze(fixture.Whole);
        Assert.True(diagnostics.Count == 0, string.Join("\n", diagnostics));
        Assert.Equal(8, config.Resources.Count);
        // Everything else of networking.istio.io is the Sidecar, which the local gateway has no use for.
        Assert.Equal(["Sidecar"], fixture.Whole.Where(d => d.Group == "networking.istio.io" && !LoaderKinds.Contains(d.Kind)).Select(d => d.Kind));
    }

    [Fact]
    public void Deploy_istio_rendered_alone_has_no_findings()
    {
        var (_, diagnostics) = Analyze(fixture.IstioOnly);
        Assert.True(diagnostics.Count == 0, string.Join("\n", diagnostics));
    }

    [Fact]
    public void Deploy_istio_and_each_of_its_scenarios_have_no_findings()
    {
        var findings = IstioAnalyzeCommand.Analyze(Repository.DeployIstio, []).Select(d => d.ToString()).ToList();
        foreach (var scenario in Scenarios.Names)
        {
            findings.AddRange(IstioAnalyzeCommand.Analyze(Repository.DeployIstio, [scenario]).Select(d => $"scenario {scenario}: {d}"));
        }
        Assert.True(findings.Count == 0, string.Join("\n", findings));
    }

    internal static (IstioConfigSet Config, IReadOnlyList<ConfigDiagnostic> Diagnostics) Analyze(
        IEnumerable<RenderedDocument> documents, string egressNamespace = "istio-system")
    {
        var yaml = string.Join("---\n", documents
            .Where(d => d.Group == IstioConfigLoader.ApiGroup && LoaderKinds.Contains(d.Kind))
            .Select(d => d.Yaml));
        var config = IstioConfigLoader.Parse("rendered.yaml", yaml);
        var environment = new MeshEnvironment($"istio-egressgateway.{egressNamespace}.svc.cluster.local");
        return (config, ConfigAnalysis.Run(config, environment).Diagnostics);
    }
}

internal static class Scenarios
{
    public static string Folder => Path.Combine(Repository.DeployIstio, IstioConfigLoader.ScenariosFolder);

    public static IReadOnlyList<string> Names => Directory.Exists(Folder)
        ? Directory.EnumerateFiles(Folder, "*.yaml").Select(f => Path.GetFileNameWithoutExtension(f)).Order(StringComparer.Ordinal).ToList()
        : [];
}
