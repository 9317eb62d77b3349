using System.Net;

namespace Demo.Deploy.Tests.Reachability;

/// <summary>
/// The flows the demo needs, and the ones it must stop, evaluated on what <c>kubectl kustomize deploy</c> renders —
/// for the egress gateway in istio-system and in its own namespace, with and without each scenario.
/// </summary>
[Collection(DeployCollection.Name)]
public sealed class RenderedReachabilityTests(DeployFixture fixture)
{
    private const string NoScenario = "(none)";

    public static TheoryData<string, string> Layouts()
    {
        var data = new TheoryData<string, string>();
        foreach (var egressNamespace in new[] { "istio-system", "istio-egress" })
        {
            foreach (var scenario in Scenarios.Names.Prepend(NoScenario))
            {
                data.Add(egressNamespace, scenario);
            }
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(Layouts))]
    public async Task What_must_work_gets_through_and_what_must_not_is_stopped_by_its_layer(string egressNamespace, string scenario)
    {
        var settings = new Settings(EgressGatewayNamespace: egressNamespace);
        var cluster = await PlaceAsync(settings, scenario == NoScenario ? [] : [scenario]);
        var failures = Evaluate(cluster);
        Assert.True(failures.Count == 0, $"egress gateway in {egressNamespace}, scenario {scenario}:\n\n" + string.Join("\n\n", failures));
    }

    [Fact]
    public async Task Other_settings_in_every_field_keep_every_flow_as_it_should_be()
    {
        var other = SettingsAndScenarioTests.OtherCluster;
        var settings = new Settings(other["appNamespace"], other["egressGatewayNamespace"], other["istioNamespace"], other["nodeLocalDnsAddress"],
            other["clusterDnsAddress"], other["cfHostV1"], other["cfHostV2"]);
        Assert.Equal(other.Keys.Order(StringComparer.Ordinal), settings.AsSettingsYaml().Keys.Order(StringComparer.Ordinal));
        Assert.All(settings.AsSettingsYaml(), kv => Assert.NotEqual(new Settings().AsSettingsYaml()[kv.Key], kv.Value));
        var cluster = await PlaceAsync(settings, []);
        // The install snippet names the dashboard in 'demo'; a user with another app namespace edits it, as its text says.
        var failures = Evaluate(cluster, cluster.Install with
        {
            OpenTelemetryProviders = cluster.Install.OpenTelemetryProviders.ToDictionary(
                p => p.Key, p => (p.Value.Service.Replace(".demo.", $".{settings.AppNamespace}.", StringComparison.Ordinal), p.Value.Port)),
        });
        Assert.True(failures.Count == 0, string.Join("\n\n", failures));
    }

    [Fact]
    public void The_install_snippet_changes_no_mesh_wide_default_and_names_the_OTLP_backend()
    {
        var install = ClusterUnderTest.InstallSnippet();
        Assert.Equal("IstioOperator", (string?)install["kind"]);
        var mesh = MeshConfig.Parse(install["spec"]!["meshConfig"]!.AsObject());
        Assert.Equal("ALLOW_ANY", mesh.OutboundTrafficPolicy);
        Assert.Empty(mesh.DefaultProxyMetadata);
        Assert.Equal(("aspire-dashboard.demo.svc.cluster.local", AspirateOutput.DashboardOtlpPort), mesh.OpenTelemetryProviders["aspire-dashboard"]);
        var gateway = Assert.Single(install["spec"]!["components"]!["egressGateways"]!.AsArray())!;
        Assert.Equal("istio-egressgateway", (string?)gateway["name"]);
    }

    // The check has teeth: each of these breaks exactly the flow it should.

    [Fact]
    public async Task The_old_replacement_that_moved_the_istiod_rule_with_the_gateway_would_cut_every_sidecar_from_istiod()
    {
        var settings = new Settings(EgressGatewayNamespace: "istio-egress");
        var cluster = await PlaceAsync(settings, [], d => d.Kind == "NetworkPolicy" && d.Name == "app-egress-istiod"
            ? d.Yaml.Replace("kubernetes.io/metadata.name: istio-system", "kubernetes.io/metadata.name: istio-egress", StringComparison.Ordinal)
            : d.Yaml);
        var result = cluster.Mesh.Connect(cluster.App("proxy"), cluster.Istiod, ClusterUnderTest.Xds);
        Assert.False(result.Allowed);
        Assert.Equal("NetworkPolicy", result.Denial!.Layer);
    }

    [Fact]
    public async Task Without_the_ClusterIP_rule_NodeLocal_DNSCache_in_iptables_mode_would_get_no_DNS_query_from_any_pod()
    {
        var settings = new Settings(ClusterDnsAddress: "10.43.0.10");
        var cluster = await PlaceAsync(settings, [], d => d.Kind == "NetworkPolicy" && d.Name == "app-egress-dns"
            ? d.Yaml.Replace("    - ipBlock:\n        cidr: 10.43.0.10/32\n", "", StringComparison.Ordinal)
            : d.Yaml);
        Assert.DoesNotContain("10.43.0.10", Assert.Single(cluster.Documents, d => d.Name == "app-egress-dns").Yaml, StringComparison.Ordinal);
        foreach (var pod in cluster.AppPods)
        {
            foreach (var protocol in new[] { "UDP", "TCP" })
            {
                var result = cluster.Mesh.Connect(pod, cluster.NodeLocalDnsOnClusterIp, new ContainerPort(53, protocol));
                Assert.False(result.Allowed, result.ToString());
                Assert.Equal("NetworkPolicy", result.Denial!.Layer);
                // The kube-dns pods and the link-local address are still allowed: neither is the address the pod sends to.
                Assert.True(cluster.Mesh.Connect(pod, cluster.KubeDns, protocol == "UDP" ? ClusterUnderTest.DnsUdp : ClusterUnderTest.DnsTcp).Allowed);
                Assert.True(cluster.Mesh.Connect(pod, cluster.NodeLocalDns, new ContainerPort(53, protocol)).Allowed);
            }
        }
    }

    [Fact]
    public async Task Without_DNS_capture_on_the_proxy_hello_external_does_not_resolve()
    {
        var cluster = await PlaceAsync(new Settings(), [], d => d.Kind == "Deployment" && d.Name == "proxy"
            ? d.Yaml.Replace("ISTIO_META_DNS_CAPTURE: \"true\"", "ISTIO_META_DNS_CAPTURE: \"false\"", StringComparison.Ordinal)
            : d.Yaml);
        var result = Assert.Single(cluster.Mesh.AppRequest(cluster.App("proxy"), "hello.external", 80));
        Assert.Equal("DNS", result.Denial?.Layer);
    }

    [Fact]
    public async Task Without_the_AuthorizationPolicy_the_caller_would_reach_the_CF_hosts_through_the_gateway()
    {
        var cluster = await PlaceAsync(new Settings(), [], d => d.Kind == "AuthorizationPolicy" ? null : d.Yaml);
        var results = cluster.Mesh.AppRequest(cluster.App("caller"), "hello.external", 80);
        Assert.NotEmpty(results);
        Assert.All(results, r => Assert.True(r.Allowed, r.ToString()));
    }

    [Fact]
    public async Task Without_the_NetworkPolicies_a_pod_bypassing_its_sidecar_reaches_a_CF_host()
    {
        var cluster = await PlaceAsync(new Settings(), [], d => d.Kind == "NetworkPolicy" ? null : d.Yaml);
        var cf = new AddressEndpoint(cluster.Settings.CfHostV1, cluster.Cluster.ExternalDns[cluster.Settings.CfHostV1]);
        Assert.True(cluster.Mesh.Connect(cluster.App("proxy"), cf, new ContainerPort(443)).Allowed);
    }

    private async Task<ClusterUnderTest> PlaceAsync(Settings settings, string[] scenarios, Func<RenderedDocument, string?>? edit = null)
    {
        var documents = await SettingsAndScenarioTests.RenderScenariosAsync(fixture.Tree, settings.AsSettingsYaml(), scenarios);
        if (edit is not null)
        {
            documents = documents.Select(edit).OfType<string>().Select(RenderedDocument.Parse).ToList();
        }
        return ClusterUnderTest.Place(documents, settings);
    }

    private static List<string> Evaluate(ClusterUnderTest c, MeshConfig? install = null)
    {
        var mesh = install is null ? c.Mesh : new MeshReachability(c.Cluster, c.Istio, install);
        install ??= c.Install;
        var s = c.Settings;
        var failures = new List<string>();
        void MustWork(string flow, IReadOnlyList<FlowResult> results)
        {
            if (results.Count == 0 || results.Any(r => !r.Allowed))
            {
                failures.Add($"MUST WORK: {flow}\n" + string.Join("\n", results.Select(r => "  " + r)));
            }
        }
        void MustBeStopped(string flow, string layer, IReadOnlyList<FlowResult> results)
        {
            if (results.Count == 0 || results.Any(r => r.Allowed || r.Denial!.Layer != layer))
            {
                failures.Add($"MUST BE STOPPED by {layer}: {flow}\n" + string.Join("\n", results.Select(r => "  " + r)));
            }
        }

        var proxy = c.App("proxy");
        var caller = c.App("caller");
        var dashboard = c.App("aspire-dashboard");
        var gateway = c.EgressGateway;
        var cfHosts = new[] { s.CfHostV1, s.CfHostV2 };
        Assert.All(c.AppPods, p => Assert.True(p.InMesh, $"{p} has no sidecar"));

        // caller -> proxy, at the address Aspirate gave the caller.
        var proxyUrl = new Uri(c.Env("caller", "services__proxy__http__0"));
        MustWork("caller -> proxy", mesh.AppRequest(caller, proxyUrl.Host, proxyUrl.Port));

        // proxy -> hello.external -> its sidecar -> egress gateway 443 -> each CF host 443.
        var target = new Uri(c.Env("proxy", "Upstream__BaseAddress"));
        var viaGateway = mesh.AppRequest(proxy, target.Host, target.Port);
        MustWork("proxy -> hello.external -> sidecar -> egress gateway -> CF hosts", viaGateway);
        foreach (var cf in cfHosts)
        {
            if (!viaGateway.Any(r => r.Allowed && r.Steps.Any(step => step.Contains($"-> {cf}:443", StringComparison.Ordinal))
                && r.Steps.Any(step => step.Contains($"Gateway {s.EgressGatewayNamespace}/hello-cf-egress: SNI {cf}", StringComparison.Ordinal))))
            {
                failures.Add($"MUST WORK: proxy's sidecar -> egress gateway (SNI {cf}) -> {cf}:443 is not among the paths:\n" + string.Join("\n", viaGateway.Select(r => "  " + r)));
            }
            MustWork($"egress gateway -> {cf}:443", mesh.ProxyRequest(gateway, cf, 443));
        }

        // Every proxy -> istiod 15012 (xDS, certificates); every pod -> DNS 53.
        foreach (var pod in c.AppPods.Append(gateway))
        {
            MustWork($"{pod} (istio-agent) -> istiod:15012", [mesh.Connect(pod, c.Istiod, ClusterUnderTest.Xds)]);
        }
        foreach (var pod in c.AppPods)
        {
            foreach (var port in new[] { ClusterUnderTest.DnsUdp, ClusterUnderTest.DnsTcp })
            {
                MustWork($"{pod} -> kube-dns {port.Protocol}/53", [mesh.Connect(pod, c.KubeDns, port)]);
                MustWork($"{pod} -> NodeLocal DNS {port.Protocol}/53", [mesh.Connect(pod, c.NodeLocalDns, new ContainerPort(53, port.Protocol))]);
                MustWork($"{pod} -> NodeLocal DNS on the kube-dns ClusterIP {port.Protocol}/53 (iptables mode)",
                    [mesh.Connect(pod, c.NodeLocalDnsOnClusterIp, new ContainerPort(53, port.Protocol))]);
            }
        }

        // OTLP: the apps, and the proxies that trace, report to one backend.
        var backends = new HashSet<string>();
        foreach (var app in new[] { caller, proxy })
        {
            var otlp = new Uri(c.Env(app.Name, "OTEL_EXPORTER_OTLP_ENDPOINT"));
            MustWork($"{app} (app) -> OTLP {otlp}", mesh.AppRequest(app, otlp.Host, otlp.Port));
            backends.Add($"{c.Cluster.Services.Single(svc => svc.Hostname == $"{otlp.Host}.{app.Namespace}.svc.cluster.local").Hostname}:{otlp.Port}");
        }
        foreach (var pod in new[] { caller, proxy, gateway })
        {
            var providers = mesh.TracingProviders(pod);
            if (providers.Count == 0)
            {
                failures.Add($"MUST WORK: {pod}'s proxy reports no spans (no Telemetry with a tracing provider applies)");
            }
            foreach (var name in providers)
            {
                if (!install.OpenTelemetryProviders.TryGetValue(name, out var provider))
                {
                    failures.Add($"MUST WORK: {pod}'s Telemetry names provider '{name}', which the install's extensionProviders do not define");
                    continue;
                }
                MustWork($"{pod} (proxy's tracer) -> OTLP {provider.Service}:{provider.Port}", mesh.ProxyRequest(pod, provider.Service, provider.Port));
                backends.Add($"{provider.Service}:{provider.Port}");
            }
        }
        if (backends.Count != 1)
        {
            failures.Add($"MUST WORK: apps and proxies report to one OTLP backend, not {string.Join(", ", backends)}");
        }
        if (mesh.TracingProviders(dashboard).Count != 0)
        {
            failures.Add("the OTLP backend's own sidecar reports spans");
        }

        // Must not: the proxy to a CF host without the gateway — through its sidecar, and bypassing it.
        foreach (var cf in cfHosts)
        {
            MustBeStopped($"proxy -> {cf}:443 directly", "Sidecar", mesh.AppRequest(proxy, cf, 443));
            MustBeStopped($"proxy (bypassing its sidecar) -> {cf}:443", "NetworkPolicy",
                [mesh.Connect(proxy, new AddressEndpoint(cf, c.Cluster.ExternalDns[cf]), new ContainerPort(443))]);
            MustBeStopped($"caller -> egress gateway (SNI and Host {cf})", "AuthorizationPolicy", mesh.GatewayRequest(caller, gateway, 443, cf, cf));
        }
        // The caller through the same VirtualService as the proxy: only its identity differs.
        MustBeStopped("caller -> hello.external -> egress gateway -> CF hosts", "AuthorizationPolicy", mesh.AppRequest(caller, target.Host, target.Port));
        MustBeStopped("caller -> the egress gateway's Service:443 (auto mTLS SNI)", "Gateway",
            mesh.AppRequest(caller, $"istio-egressgateway.{s.EgressGatewayNamespace}.svc.cluster.local", 443));

        // Must not: any pod to a host nobody registered.
        var unregistered = c.Cluster.ExternalDns[ClusterUnderTest.UnregisteredHost];
        foreach (var pod in c.AppPods)
        {
            MustBeStopped($"{pod} -> {ClusterUnderTest.UnregisteredHost}:443", "Sidecar", mesh.AppRequest(pod, ClusterUnderTest.UnregisteredHost, 443));
            MustBeStopped($"{pod} (bypassing its sidecar) -> {ClusterUnderTest.UnregisteredHost}:443", "NetworkPolicy",
                [mesh.Connect(pod, new AddressEndpoint(ClusterUnderTest.UnregisteredHost, unregistered), new ContainerPort(443))]);
        }
        MustBeStopped($"proxy -> egress gateway (SNI {ClusterUnderTest.UnregisteredHost})", "Gateway",
            mesh.GatewayRequest(proxy, gateway, 443, ClusterUnderTest.UnregisteredHost, ClusterUnderTest.UnregisteredHost));
        MustBeStopped($"proxy -> egress gateway (SNI {s.CfHostV1}, Host {ClusterUnderTest.UnregisteredHost})", "Gateway",
            mesh.GatewayRequest(proxy, gateway, 443, s.CfHostV1, ClusterUnderTest.UnregisteredHost));
        return failures;
    }
}
