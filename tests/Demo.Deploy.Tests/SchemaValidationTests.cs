using System.Text.Json.Nodes;

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
