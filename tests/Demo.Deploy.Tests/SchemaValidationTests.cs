using System.Text.Json.Nodes;
using Demo.EgressGateway.Istio;

namespace Demo.Deploy.Tests;

/// <summary>Every rendered object against its schema: Istio's CRDs and the Kubernetes models.</summary>
[Collection(DeployCollection.Name)]
public sealed class SchemaValidationTests(DeployFixture fixture)
{
    [Fact]
    public void Every_rendered_object_has_a_schema_and_matches_it()
    {
        var findings = new List<string>();
        foreach (var document in fixture.Whole.Concat(fixture.IstioOnly))
        {
            var errors = document.Group.EndsWith("istio.io", StringComparison.Ordinal)
                ? IstioSchemas.Validate(document)
                : KubernetesSchemas.Has(document.ApiVersion, document.Kind)
                    ? KubernetesSchemas.Validate(document)
                    : [$"no schema for {document.ApiVersion} {document.Kind}"];
            findings.AddRange(errors.Select(e => $"{document}: {e}"));
        }
        Assert.True(findings.Count == 0, string.Join("\n", findings));
        Assert.Contains(fixture.Whole, d => d.Group == "security.istio.io");
        Assert.Contains(fixture.Whole, d => d.Kind == "NetworkPolicy");
        Assert.Contains(fixture.Whole, d => d.ApiVersion == "telemetry.istio.io/v1" && d.Kind == "Telemetry");
    }

    /// <summary>
    /// deploy/README.md and README.md promise Istio 1.22 or later: every Istio object the cluster gets — the render,
    /// deploy/istio alone and every scenario — is in a version each release of 1.22–1.30 serves.
    /// </summary>
    [Fact]
    public void Every_Istio_object_of_the_render_and_of_each_scenario_is_served_by_every_supported_Istio_version()
    {
        var documents = fixture.Whole.Concat(fixture.IstioOnly)
            .Concat(Scenarios.Names.SelectMany(name => RenderedDocument.ParseAll(File.ReadAllText(Path.Combine(Scenarios.Folder, name + ".yaml")))))
            .Where(d => d.Group.EndsWith("istio.io", StringComparison.Ordinal))
            .ToList();
        Assert.Equal(["networking.istio.io", "security.istio.io", "telemetry.istio.io"], documents.Select(d => d.Group).Distinct().Order(StringComparer.Ordinal));
        var findings = new List<string>();
        for (var minor = IstioVersion.Oldest.Minor; minor <= IstioVersion.Newest.Minor; minor++)
        {
            var version = new IstioVersion(IstioVersion.Oldest.Major, minor);
            findings.AddRange(documents.Where(d => !version.Serves(d.ApiVersion)).Select(d => $"{d}: {d.ApiVersion} is not served by Istio {version}"));
        }
        Assert.True(findings.Count == 0, string.Join("\n", findings));
        Assert.False(IstioVersion.Oldest.Serves("networking.istio.io/v1beta2"));
    }

    /// <summary>What the analyzer's <see cref="IstioVersion.ServedVersions"/> says for Istio 1.30 is what Istio 1.30.3's CRDs serve, for every Istio kind deploy/ uses.</summary>
    [Fact]
    public void The_versions_the_analyzer_knows_Istio_serves_are_those_of_Istio_1_30s_CRDs()
    {
        var kinds = fixture.Whole.Where(d => d.Group.EndsWith("istio.io", StringComparison.Ordinal)).Select(d => (d.Group, d.Kind)).Distinct().ToList();
        Assert.Equal(8, kinds.Count);
        foreach (var (group, kind) in kinds)
        {
            var crd = IstioSchemas.ServedVersions(group, kind);
            Assert.True(crd.SetEquals(IstioVersion.Newest.ServedVersions(group)),
                $"{group} {kind}: the CRDs serve {string.Join(", ", crd.Order(StringComparer.Ordinal))}; IstioVersion says {string.Join(", ", IstioVersion.Newest.ServedVersions(group))}");
        }
    }

    [Fact]
    public void The_Istio_check_fails_on_a_Telemetry_with_an_unknown_field_or_an_unserved_version()
    {
        var telemetry = Assert.Single(fixture.Whole, d => d.Kind == "Telemetry" && d.Name == "hello-tracing");
        Assert.Empty(IstioSchemas.Validate(telemetry));

        var misspelt = (JsonObject)telemetry.Json.DeepClone();
        misspelt["spec"]!["tracing"]![0]!["randomSamplingPercent"] = 100;
        Assert.Contains("spec.tracing[0].randomSamplingPercent: unknown field", IstioSchemas.Validate(telemetry.ApiVersion, telemetry.Kind, misspelt));

        var wrongType = (JsonObject)telemetry.Json.DeepClone();
        wrongType["spec"]!["tracing"]![0]!["providers"] = "aspire-dashboard";
        Assert.NotEmpty(IstioSchemas.Validate(telemetry.ApiVersion, telemetry.Kind, wrongType));

        Assert.NotEmpty(IstioSchemas.Validate("telemetry.istio.io/v2", telemetry.Kind, telemetry.Json));
    }

    [Fact]
    public void The_Istio_check_fails_on_a_wrong_type_an_unknown_field_and_a_wrong_enum()
    {
        var hello = Assert.Single(fixture.Whole, d => d.Kind == "VirtualService" && d.Name == "hello");
        Assert.Empty(IstioSchemas.Validate(hello));

        var wrongType = (JsonObject)hello.Json.DeepClone();
        wrongType["spec"]!["http"]![0]!["route"]![0]!["weight"] = "fifty";
        Assert.Contains(IstioSchemas.Validate(hello.ApiVersion, hello.Kind, wrongType), e => e.Contains("/spec/http/0/route/0/weight", StringComparison.Ordinal));

        var misspelt = (JsonObject)hello.Json.DeepClone();
        misspelt["spec"]!["http"]![0]!["retrys"] = new JsonObject { ["attempts"] = 3 };
        Assert.Contains("spec.http[0].retrys: unknown field", IstioSchemas.Validate(hello.ApiVersion, hello.Kind, misspelt));

        var policy = Assert.Single(fixture.Whole, d => d.Kind == "AuthorizationPolicy");
        var wrongEnum = (JsonObject)policy.Json.DeepClone();
        wrongEnum["spec"]!["action"] = "BLOCK";
        Assert.NotEmpty(IstioSchemas.Validate(policy.ApiVersion, policy.Kind, wrongEnum));

        Assert.NotEmpty(IstioSchemas.Validate("networking.istio.io/v1", "EgressRule", hello.Json));
    }

    [Fact]
    public void The_Kubernetes_check_fails_on_a_wrong_type_and_an_unknown_field()
    {
        var deployment = Assert.Single(fixture.Whole, d => d.Kind == "Deployment" && d.Name == "proxy");
        Assert.Empty(KubernetesSchemas.Validate(deployment));

        Assert.NotEmpty(KubernetesSchemas.Validate(deployment.ApiVersion, deployment.Kind,
            deployment.Yaml.Replace("replicas: 1", "replicas: one", StringComparison.Ordinal)));
        Assert.NotEmpty(KubernetesSchemas.Validate(deployment.ApiVersion, deployment.Kind,
            deployment.Yaml.Replace("serviceAccountName: proxy", "serviceAcountName: proxy", StringComparison.Ordinal)));

        var policy = Assert.Single(fixture.Whole, d => d.Kind == "NetworkPolicy" && d.Name == "app-egress-own-namespace");
        Assert.NotEmpty(KubernetesSchemas.Validate(policy.ApiVersion, policy.Kind,
            policy.Yaml.Replace("podSelector: {}", "podSelector: []", StringComparison.Ordinal)));
    }
}
