using Demo.EgressGateway.Envoy;
using Demo.EgressGateway.Istio;

namespace Demo.EgressGateway.Tests;

/// <summary>
/// DestinationRules with a <c>workloadSelector</c>, translated as istiod does: push_context.go setDestinationRules
/// (selector rules sorted first, exported nowhere: exportTo "."), destination_rule.go mergeDestinationRule (1.22/1.23
/// and 1.24+), sidecar.go SidecarScope.DestinationRule (the first entry of the proxy's namespace whose selector its
/// labels include, else the last entry without one), cluster_tls.go (a sidecar uses credentialName only from a selector
/// rule) and sds.go filterAuthorizedResources (which Secrets a proxy is given). Each rule's subsets show which
/// consolidated entry a proxy uses and what was merged into it.
/// </summary>
public sealed class DestinationRuleSelectorTests : IDisposable
{
    private const string Host = "httpbin.org";
    private readonly DirectoryInfo _secrets = Directory.CreateTempSubdirectory("demo-dr-selector-");

    public void Dispose() => _secrets.Delete(recursive: true);

    private static MeshEnvironment Workload(string app, string version = "1.30", string ns = "test") => new()
    {
        WorkloadNamespace = ns,
        WorkloadLabels = new Dictionary<string, string> { ["app"] = app },
        IstioVersion = IstioVersion.Parse(version),
    };

    private static string ServiceEntry(string ns = "test") => $$"""
        apiVersion: networking.istio.io/v1
        kind: ServiceEntry
        metadata: { name: httpbin, namespace: {{ns}} }
        spec:
          hosts: [{{Host}}]
          location: MESH_EXTERNAL
          ports: [{ number: 80, name: http, protocol: HTTP }]
          resolution: DNS
        """;

    private static string Rule(string name, string? app, string subset, string exportTo = "", string ns = "test", string tls = "") => $$"""
        apiVersion: networking.istio.io/v1
        kind: DestinationRule
        metadata: { name: {{name}}, namespace: {{ns}} }
        spec:
          host: {{Host}}
        {{(app is null ? "" : $"  workloadSelector: {{ matchLabels: {{ app: {app} }} }}\n")}}{{(exportTo.Length == 0 ? "" : $"  exportTo: [{exportTo}]\n")}}  subsets: [{ name: {{subset}} }]
        {{tls}}
        """;

    private static IstioConfigSet Parse(params string[] documents)
    {
        var config = IstioConfigLoader.Parse("rules.yaml", string.Join("\n---\n", documents));
        Assert.False(config.HasErrors, string.Join('\n', config.Diagnostics));
        return config;
    }

    private static string Subsets(ProxyConfig proxy) => string.Join(',', proxy.Clusters
        .Where(c => c.Name.EndsWith("|" + Host, StringComparison.Ordinal) && c.Subset is not null)
        .Select(c => c.Subset));

    // Istio's own case, push_context_test.go TestSetDestinationRuleWithWorkloadSelector: nsRule1 (app1), nsRule2 and
    // nsRule3 (both app2) and nsRule4 (no selector, exportTo [., test2]) in namespace test (here ns-rule1…ns-rule4).
    // The test's expected "from": nsRule1 ← [nsRule1, nsRule4], nsRule2 ← [nsRule2, nsRule3, nsRule4], nsRule4 ←
    // [nsRule4] — the rule without a selector is merged into each selector entry (its exportTo covers theirs) and kept
    // as an entry of its own; nsRule3 merges into nsRule2 (the same selector). (Istio's case gives the selector rules
    // exportTo [test2, .], which the webhook refuses for a rule with a selector; here they have "." — the index gives
    // them "." in any case.)
    [Theory]
    [InlineData("1.22", "app1", "s1,s4")]
    [InlineData("1.22", "app2", "s2,s3,s4")]
    [InlineData("1.22", "other", "s4")]
    [InlineData("1.30", "app1", "s1,s4")]
    [InlineData("1.30", "app2", "s2,s3,s4")]
    [InlineData("1.30", "other", "s4")]
    public void Istios_merge_of_rules_with_and_without_selectors(string version, string app, string subsets)
    {
        var config = Parse(ServiceEntry(),
            Rule("ns-rule1", "app1", "s1", "\".\""),
            Rule("ns-rule2", "app2", "s2", "\".\""),
            Rule("ns-rule3", "app2", "s3", "\".\""),
            Rule("ns-rule4", null, "s4", "\".\", test2"));

        Assert.Equal(subsets, Subsets(IstioTranslator.Translate(config, Workload(app, version)).Sidecar));
    }

    // mergeDestinationRule, the rule without a selector meeting a selector rule's entry. From 1.24 with the same
    // exportTo "." it is merged into that entry and not appended (one with and one without a selector leaves
    // appendSeparately false), so a workload the selector does not pick gets no rule at all; with no exportTo it is kept
    // apart (exportTo neither equal nor covering). Up to 1.23 it is merged into the selector entry and appended.
    [Theory]
    [InlineData("1.30", "\".\"", "a", "sa,sr")]
    [InlineData("1.30", "\".\"", "b", "")]
    [InlineData("1.24", "\".\"", "b", "")]
    [InlineData("1.30", "", "a", "sa")]
    [InlineData("1.30", "", "b", "sr")]
    [InlineData("1.23", "\".\"", "a", "sa,sr")]
    [InlineData("1.23", "\".\"", "b", "sr")]
    [InlineData("1.23", "", "a", "sa,sr")]
    [InlineData("1.23", "", "b", "sr")]
    public void A_rule_without_selector_merges_into_the_selector_rules_entry_as_each_version_does(string version, string exportTo, string app, string subsets)
    {
        var config = Parse(ServiceEntry(), Rule("selected", "a", "sa"), Rule("shared", null, "sr", exportTo));

        Assert.Equal(subsets, Subsets(IstioTranslator.Translate(config, Workload(app, version)).Sidecar));
    }

    // sortConfigBySelectorAndCreationTime and SidecarScope.DestinationRule: of two selector rules a workload matches,
    // the first by name (created in the same second) applies; a selector rule beats the rule without one.
    [Fact]
    public void The_first_matching_selector_rule_applies_before_the_rule_without_selector()
    {
        var config = Parse(ServiceEntry(),
            Rule("a-shared", null, "s0"),
            Rule("b-web", "web", "s1"),
            Rule("c-web", "web", "s2"));
        // b and c have the same selector: one entry (c merged into b), which is the one the workload uses; a (no
        // exportTo, so apart from them) is what any other workload uses.
        Assert.Equal("s1,s2", Subsets(IstioTranslator.Translate(config, Workload("web")).Sidecar));
        Assert.Equal("s0", Subsets(IstioTranslator.Translate(config, Workload("api")).Sidecar));

        var split = Parse(ServiceEntry(), Rule("first", "web", "s1"),
            Rule("second", null, "s2").Replace("  subsets:", "  workloadSelector: { matchLabels: { tier: front } }\n  subsets:", StringComparison.Ordinal));
        var both = Workload("web") with { WorkloadLabels = new Dictionary<string, string> { ["app"] = "web", ["tier"] = "front" } };
        Assert.Equal("s1", Subsets(IstioTranslator.Translate(split, both).Sidecar));
    }

    // A selector rule applies only to proxies of its own namespace: one in another namespace, or in the root
    // namespace, is not seen by the sidecar (its exportTo is "."); the gateway's pods are selected by their labels.
    [Fact]
    public void A_selector_rule_applies_in_its_own_namespace_only_and_selects_the_gateway_by_its_labels()
    {
        var config = Parse(ServiceEntry(),
            Rule("elsewhere", "proxy", "s-other", ns: "other"),
            Rule("root", "proxy", "s-root", ns: "istio-system"),
            Rule("gateway", null, "s-gw", ns: "istio-system").Replace("  subsets:", "  workloadSelector: { matchLabels: { istio: egressgateway } }\n  subsets:", StringComparison.Ordinal),
            Rule("shared", null, "s-shared", ns: "test"));

        var xds = IstioTranslator.Translate(config, Workload("proxy"));

        Assert.Equal("s-shared", Subsets(xds.Sidecar));
        Assert.Equal("s-gw", Subsets(xds.Gateway));
    }

    private const string MutualTls = """
          trafficPolicy:
            tls: { mode: MUTUAL, credentialName: client, sni: httpbin.org }
        """;

    // A generic Secret (cert, key, cacert) as a folder: a self-signed client certificate and its key.
    private string SecretFolder()
    {
        using var key = System.Security.Cryptography.ECDsa.Create();
        var request = new System.Security.Cryptography.X509Certificates.CertificateRequest("CN=client", key, System.Security.Cryptography.HashAlgorithmName.SHA256);
        using var certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddDays(1));
        var folder = _secrets.CreateSubdirectory(Guid.NewGuid().ToString("N"));
        File.WriteAllText(Path.Combine(folder.FullName, "cert"), certificate.ExportCertificatePem());
        File.WriteAllText(Path.Combine(folder.FullName, "key"), key.ExportPkcs8PrivateKeyPem());
        File.WriteAllText(Path.Combine(folder.FullName, "cacert"), certificate.ExportCertificatePem());
        return folder.FullName;
    }

    // cluster_tls.go buildUpstreamClusterTLSContext: the sidecar's cluster gets the credentialName's SDS only from a
    // rule with a workloadSelector (isDrWithSelector); from one without, no TLS context at all.
    [Fact]
    public void A_sidecar_uses_a_credentialName_only_from_a_rule_with_a_workloadSelector()
    {
        var selected = IstioTranslator.Translate(Parse(ServiceEntry(), Rule("selected", "proxy", "s1", tls: MutualTls)), Workload("proxy")).Sidecar;
        var tls = Assert.Single(selected.Clusters, c => c.Name == $"outbound|80||{Host}").UpstreamTls;
        Assert.NotNull(tls);
        Assert.Equal("kubernetes://client", tls.CertificateSecret);
        Assert.Equal("kubernetes://client-cacert", tls.ValidationSecret);

        var shared = IstioTranslator.Translate(Parse(ServiceEntry(), Rule("shared", null, "s1", tls: MutualTls)), Workload("proxy")).Sidecar;
        Assert.Null(Assert.Single(shared.Clusters, c => c.Name == $"outbound|80||{Host}").TransportSocket);
    }

    // sds.go filterAuthorizedResources: the sidecar is given a Secret of its own namespace only (EgressGateway:
    // Credentials:<namespace>/<name>; a bare <name> is the gateway's namespace); the CA (<name>-cacert) always, the
    // client certificate only when its service account may list Secrets there.
    [Theory]
    [InlineData("test/client", true, "kubernetes://client,kubernetes://client-cacert")]
    [InlineData("test/client", false, "kubernetes://client-cacert")]
    [InlineData("other/client", true, "")]
    [InlineData("client", true, "")]
    public void The_sidecar_is_given_the_Secrets_of_its_namespace_it_may_read(string key, bool authorized, string secrets)
    {
        var environment = Workload("proxy") with
        {
            Credentials = new Dictionary<string, string> { [key] = SecretFolder() },
            WorkloadCanListSecrets = authorized,
        };

        var sidecar = IstioTranslator.Translate(Parse(ServiceEntry(), Rule("selected", "proxy", "s1", tls: MutualTls)), environment).Sidecar;

        Assert.Equal(secrets, string.Join(',', sidecar.Secrets.Select(s => s.Name)));
    }

    // validation.go validateExportTo (isDestinationRuleWithSelector) and validateWorkloadSelector.
    [Theory]
    [InlineData("exportTo: [\"*\"]", "destination rule with workload selector cannot have exportTo beyond current namespace")]
    [InlineData("exportTo: [other]", "destination rule with workload selector cannot have exportTo beyond current namespace")]
    [InlineData("exportTo: [\".\", test2]", "destination rule with workload selector cannot have multiple entries in exportTo")]
    public void A_selector_rule_exported_beyond_its_namespace_is_refused(string exportTo, string message)
    {
        var config = IstioConfigLoader.Parse("rules.yaml", Rule("selected", "a", "s1").Replace("  subsets:", $"  {exportTo}\n  subsets:", StringComparison.Ordinal));

        var error = Assert.Single(config.Diagnostics, d => d.Severity == DiagnosticSeverity.Error);
        Assert.Equal("spec.exportTo", error.Field);
        Assert.Contains(message, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_selector_rule_with_its_own_namespace_as_exportTo_or_without_labels_is_accepted()
    {
        var config = IstioConfigLoader.Parse("rules.yaml", string.Join("\n---\n",
            Rule("own", "a", "s1", "test"),
            Rule("empty", null, "s2").Replace("  subsets:", "  workloadSelector: {}\n  subsets:", StringComparison.Ordinal)));

        Assert.False(config.HasErrors, string.Join('\n', config.Diagnostics));
        var warning = Assert.Single(config.Diagnostics, d => d.Severity == DiagnosticSeverity.Warning);
        Assert.Equal("workload selector specified without labels", warning.Message);
    }

    // What `analyze` says of selector rules: a MUTUAL credentialName at a sidecar that may not list Secrets gets the CA
    // only (sds.go filterAuthorizedResources), and rules with selectors are no duplicates of each other or of the rule
    // without one (each applies to its own workloads, sidecar.go SidecarScope.DestinationRule).
    [Theory]
    [InlineData(false, true)]
    [InlineData(true, false)]
    public void Analyze_warns_of_a_MUTUAL_sidecar_credential_the_workload_may_not_read_and_not_of_selector_rules_side_by_side(bool authorized, bool warned)
    {
        var environment = Workload("proxy") with
        {
            Credentials = new Dictionary<string, string> { ["test/client"] = SecretFolder() },
            WorkloadCanListSecrets = authorized,
        };
        var config = Parse(ServiceEntry(), Rule("selected", "proxy", "s1", tls: MutualTls), Rule("other", "other", "s2"), Rule("shared", null, "s3"));

        var findings = IstioAnalyzer.Analyze(config, environment);

        var warning = findings.Where(d => d.Message.Contains("WorkloadCanListSecrets", StringComparison.Ordinal)).ToList();
        Assert.Equal(warned, warning.Count == 1);
        Assert.All(warning, w => Assert.Equal("spec.trafficPolicy.tls.credentialName", w.Field));
        Assert.All(warning, w => Assert.Contains("'client' is MUTUAL at the sidecar", w.Message, StringComparison.Ordinal));
        Assert.DoesNotContain(findings, d => d.Field == "spec.exportTo" || d.Message.Contains("already has DestinationRule", StringComparison.Ordinal));
        var others = findings.Except(warning).Where(d => d.Field != "spec.trafficPolicy.tls.subjectAltNames").ToList();
        Assert.True(others.Count == 0, string.Join('\n', others));
    }

    [Fact]
    public void Analyze_finds_a_routes_subset_in_a_selector_rule_as_istioctl_does()
    {
        const string route = $$"""
            apiVersion: networking.istio.io/v1
            kind: VirtualService
            metadata: { name: httpbin, namespace: test }
            spec:
              hosts: [{{Host}}]
              http:
                - route: [{ destination: { host: {{Host}}, subset: s1 } }]
            """;
        var findings = IstioAnalyzer.Analyze(Parse(ServiceEntry(), Rule("selected", "proxy", "s1"), route), Workload("proxy"));
        Assert.DoesNotContain(findings, d => d.Field?.EndsWith(".destination.subset", StringComparison.Ordinal) == true);

        var missing = IstioAnalyzer.Analyze(Parse(ServiceEntry(), Rule("selected", "proxy", "s2"), route), Workload("proxy"));
        Assert.Contains(missing, d => d.Field?.EndsWith(".destination.subset", StringComparison.Ordinal) == true);
    }
}
