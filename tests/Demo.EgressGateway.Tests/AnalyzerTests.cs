using Demo.EgressGateway.Istio;

namespace Demo.EgressGateway.Tests;

/// <summary>The analyzer as a tool (like istioctl analyze) on deploy/, and the mistakes that break egress traffic shifting.</summary>
public sealed class AnalyzerTests
{
    public static TheoryData<string> Scenarios()
    {
        var data = new TheoryData<string> { "" };
        foreach (var file in Directory.EnumerateFiles(Path.Combine(ConfigFolder.DeployIstio, "scenarios"), "*.yaml"))
        {
            data.Add(Path.GetFileNameWithoutExtension(file));
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(Scenarios))]
    public void Deploy_istio_and_every_scenario_have_no_errors_or_warnings(string scenario)
    {
        var diagnostics = IstioAnalyzeCommand.Analyze(ConfigFolder.DeployIstio, scenario.Length == 0 ? [] : [scenario]);
        Assert.True(diagnostics.Count == 0, string.Join(Environment.NewLine, diagnostics));
    }

    [Fact]
    public void The_analyze_command_exits_1_and_prints_findings()
    {
        var folder = ConfigFolder.CopyOfDeployIstio();
        folder.Replace(MeshYaml.SidecarFile, "weight: 50", "weight: 0");
        var output = new StringWriter();

        var exitCode = IstioAnalyzeCommand.Run([folder.Path], output);

        Assert.Equal(1, exitCode);
        // pkg/config/validation validateWeights: "total destination weight = 0".
        Assert.Contains("spec.http[0].route: total destination weight = 0", output.ToString(), StringComparison.Ordinal);
        Assert.Equal(0, IstioAnalyzeCommand.Run([ConfigFolder.DeployIstio], new StringWriter()));
    }

    private static IReadOnlyList<ConfigDiagnostic> AnalyzeEdited(Action<ConfigFolder> edit)
    {
        var folder = ConfigFolder.CopyOfDeployIstio();
        edit(folder);
        return IstioAnalyzeCommand.Analyze(folder.Path, []);
    }

    [Fact]
    public void Subsets_split_over_two_DestinationRules_of_one_host_are_merged_as_Istio_merges_them()
    {
        // destination_rule.go mergeDestinationRule: v2 lives in a second rule for the egress gateway's host in the same
        // namespace; the sidecar's route to it is not a missing subset, only the merge itself is named.
        var diagnostics = AnalyzeEdited(folder =>
        {
            const string file = "destination-rule-istio-egressgateway.yaml";
            var text = folder.Read(file);
            var v2 = text.IndexOf("    - name: v2", StringComparison.Ordinal);
            folder.Write(file, text[..v2]);
            folder.Write("destination-rule-istio-egressgateway-v2.yaml",
                text[..text.IndexOf("  subsets:", StringComparison.Ordinal)].Replace("name: istio-egressgateway", "name: istio-egressgateway-v2", StringComparison.Ordinal)
                + "  subsets:\n" + text[v2..]);
        });
        var finding = Assert.Single(diagnostics);
        Assert.Equal(("DestinationRule 'istio-egressgateway-v2'", "spec.host"), (finding.Resource, finding.Field));
        Assert.Contains("Istio merges them", finding.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void The_original_demos_bug_a_route_level_rewrite_authority_is_named()
    {
        var diagnostics = AnalyzeEdited(folder =>
        {
            RoutingTests.RemoveHostRewrites(folder);
            folder.Replace(MeshYaml.SidecarFile, "      timeout: 5s", "      rewrite:\n        authority: hello-istio-v1.apps.example.com\n      timeout: 5s");
        });
        var finding = Assert.Single(diagnostics, d => d.Field == "spec.http[0].rewrite.authority"
            && d.Message.Contains("all versions reach the same external app", StringComparison.Ordinal));
        Assert.Equal(DiagnosticSeverity.Warning, finding.Severity);
        // The v2 destination's own Host is overridden: the SNI finding names the route-level field that sets the Host
        // it really sends, not the destination's field (whose value is v2's).
        var sni = Assert.Single(diagnostics, d => d.Message.Contains("SNI 'hello-istio-v2.apps.example.com'", StringComparison.Ordinal));
        Assert.Equal("spec.http[0].rewrite.authority", sni.Field);
        Assert.StartsWith("is 'hello-istio-v1.apps.example.com' (the route-level Host, which beats spec.http[0].route[1]'s own) but subset 'v2'",
            sni.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_missing_per_destination_host_is_named()
    {
        var diagnostics = AnalyzeEdited(RoutingTests.RemoveHostRewrites);
        Assert.Equal(2, diagnostics.Count(d => d.Field?.EndsWith("headers.request.set.host", StringComparison.Ordinal) == true
            && d.Message.Contains("is missing", StringComparison.Ordinal)));
    }

    // istio.io's egress-gateway task: the VirtualService's host is the external host, which the Gateway's server lists,
    // so the request needs no other Host on its way through the gateway.
    [Fact]
    public void A_destination_through_the_gateway_keeping_a_Host_its_server_lists_is_not_named()
    {
        var config = IstioConfigLoader.Parse("cnn.yaml", """
            apiVersion: networking.istio.io/v1
            kind: ServiceEntry
            metadata: { name: cnn }
            spec:
              hosts: [edition.cnn.com]
              ports: [{ number: 80, name: http-port, protocol: HTTP }]
              resolution: DNS
            ---
            apiVersion: networking.istio.io/v1
            kind: Gateway
            metadata: { name: istio-egressgateway }
            spec:
              selector: { istio: egressgateway }
              servers: [{ port: { number: 80, name: http, protocol: HTTP }, hosts: [edition.cnn.com] }]
            ---
            apiVersion: networking.istio.io/v1
            kind: DestinationRule
            metadata: { name: egressgateway-for-cnn }
            spec:
              host: istio-egressgateway.istio-system.svc.cluster.local
              subsets: [{ name: cnn }]
            ---
            apiVersion: networking.istio.io/v1
            kind: VirtualService
            metadata: { name: direct-cnn-through-egress-gateway }
            spec:
              hosts: [edition.cnn.com]
              gateways: [istio-egressgateway, mesh]
              http:
                - match: [{ gateways: [mesh], port: 80 }]
                  route: [{ destination: { host: istio-egressgateway.istio-system.svc.cluster.local, subset: cnn, port: { number: 80 } } }]
                - match: [{ gateways: [istio-egressgateway], port: 80 }]
                  route: [{ destination: { host: edition.cnn.com, port: { number: 80 } } }]
            """);
        Assert.False(config.HasErrors, string.Join('\n', config.Diagnostics));

        Assert.Empty(IstioAnalyzer.Analyze(config));
    }

    // istioctl analyze IST0111 MultipleSidecarsWithoutWorkloadSelectors (analyzers/sidecar/selector.go): two Sidecars
    // of one namespace without a selector (empty labels count as none) — a warning here, as the cluster accepts them.
    [Fact]
    public void Two_Sidecars_of_a_namespace_without_a_workload_selector_are_named()
    {
        var config = IstioConfigLoader.Parse("sidecars.yaml", """
            apiVersion: networking.istio.io/v1
            kind: Sidecar
            metadata: { name: a, namespace: demo }
            spec:
              outboundTrafficPolicy: { mode: ALLOW_ANY }
            ---
            apiVersion: networking.istio.io/v1
            kind: Sidecar
            metadata: { name: b, namespace: demo }
            spec:
              workloadSelector: { labels: {} }
              outboundTrafficPolicy: { mode: REGISTRY_ONLY }
            """);
        Assert.False(config.HasErrors, string.Join('\n', config.Diagnostics));

        var findings = IstioAnalyzer.Analyze(config).Where(d => d.Message.StartsWith("IST0111", StringComparison.Ordinal)).ToList();

        Assert.Equal(["Sidecar 'a'", "Sidecar 'b'"], findings.Select(f => f.Resource));
        Assert.All(findings, f => Assert.Equal(DiagnosticSeverity.Warning, f.Severity));
        Assert.Contains("the Sidecars [a, b] in namespace \"demo\" have no workload selector", findings[0].Message, StringComparison.Ordinal);
        // validation.go ValidateSidecar: a selector without labels is a warning of its own.
        Assert.Contains(config.Diagnostics, d => d is { Severity: DiagnosticSeverity.Warning, Resource: "Sidecar 'b'" }
            && d.Message == "workload selector specified without labels, will be applied to all services in namespace");
    }

    // Envoy: the SNI picks the listener's filter chain (the Gateway server), the Host picks the route inside it.
    [Fact]
    public void A_gateway_subset_whose_sni_does_not_match_its_host_is_named()
    {
        var diagnostics = AnalyzeEdited(folder => folder.Replace("destination-rule-istio-egressgateway.yaml",
            "sni: hello-istio-v2.apps.example.com", "sni: hello-istio-v1.apps.example.com"));
        var finding = Assert.Single(diagnostics, d => d.Field == "spec.http[0].route[1].headers.request.set.host");
        Assert.Equal(DiagnosticSeverity.Warning, finding.Severity);
        Assert.Equal("virtual-service-hello.yaml", Path.GetFileName(finding.File));
        Assert.Equal("VirtualService 'hello'", finding.Resource);
        Assert.Equal("is 'hello-istio-v2.apps.example.com' but subset 'v2' of the egress gateway sends SNI 'hello-istio-v1.apps.example.com': "
            + "the SNI picks the gateway's server (filter chain) for 'hello-istio-v1.apps.example.com' while the Host "
            + "'hello-istio-v2.apps.example.com' picks the route inside it — make them the same host", finding.Message);
    }

    [Fact]
    public void A_TLS_rule_whose_sni_does_not_match_its_host_and_sni_without_subjectAltNames_are_named()
    {
        var diagnostics = AnalyzeEdited(folder =>
        {
            folder.Replace("destination-rule-hello-istio-v1.yaml", "sni: hello-istio-v1.apps.example.com", "sni: hello-istio-v2.apps.example.com");
            folder.Replace("destination-rule-hello-istio-v2.yaml", "          subjectAltNames:\n            - hello-istio-v2.apps.example.com\n", "");
        });
        Assert.Contains(diagnostics, d => d.Resource == "DestinationRule 'hello-istio-v1'" && d.Field!.EndsWith(".sni", StringComparison.Ordinal));
        Assert.Contains(diagnostics, d => d.Resource == "DestinationRule 'hello-istio-v2'"
            && d.Message.Contains("checks the certificate chain but not that the certificate is for this host", StringComparison.Ordinal));
    }

    // cluster_tls.go setAutoSniAndAutoSanValidation: without sni (auto_sni) and without subjectAltNames istiod sets
    // auto_san_validation, so Envoy checks the certificate against the Host: nothing to warn about.
    [Fact]
    public void A_TLS_rule_without_sni_or_subjectAltNames_is_not_named_as_its_Host_is_checked()
    {
        var diagnostics = AnalyzeEdited(folder =>
        {
            folder.Replace("destination-rule-hello-istio-v2.yaml", "          subjectAltNames:\n            - hello-istio-v2.apps.example.com\n", "");
            folder.Replace("destination-rule-hello-istio-v2.yaml", "          sni: hello-istio-v2.apps.example.com\n", "");
        });
        Assert.DoesNotContain(diagnostics, d => d.Resource == "DestinationRule 'hello-istio-v2'" && d.Field!.EndsWith(".subjectAltNames", StringComparison.Ordinal));
    }

    [Fact]
    public void A_fault_on_the_sidecar_route_that_silently_disables_its_retries_is_named()
    {
        var diagnostics = AnalyzeEdited(folder =>
            folder.Write(MeshYaml.SidecarFile, MeshYaml.Sidecar(50, 50, timeout: "5s", retries: MeshYaml.Retries(2, "5xx"), fault: MeshYaml.Abort(418, 10))));
        var finding = Assert.Single(diagnostics, d => d.Field == "spec.http[0].fault");
        Assert.Equal(string.Format(System.Globalization.CultureInfo.InvariantCulture, SidecarFaultWarning, "abort is never retried"), finding.Message);
    }

    // Istio accepts routes to unregistered hosts and undefined subsets (validation does not look across resources);
    // Envoy then has no such cluster: 503 NC. Weights are relative (validateWeights refuses only a zero total).
    [Fact]
    public void Routes_to_unregistered_hosts_and_missing_subsets_are_503_NC_warnings_and_weights_are_relative()
    {
        var diagnostics = AnalyzeEdited(folder =>
        {
            folder.Replace(MeshYaml.EgressFile, "host: hello-istio-v2.apps.example.com\n            port:", "host: hello-istio-v3.apps.example.com\n            port:");
            folder.Replace(MeshYaml.SidecarFile, "subset: v2", "subset: v9");
            folder.Replace(MeshYaml.SidecarFile, "weight: 50", "weight: 70");
        });
        Assert.DoesNotContain(diagnostics, d => d.Severity == DiagnosticSeverity.Error);
        Assert.Contains(diagnostics, d => d.Severity == DiagnosticSeverity.Warning && d.Message.Contains("'hello-istio-v3.apps.example.com' is not registered", StringComparison.Ordinal)
            && d.Message.Contains("503 NC", StringComparison.Ordinal));
        Assert.Contains(diagnostics, d => d.Severity == DiagnosticSeverity.Warning && d.Message.Contains("subset 'v9' is not defined", StringComparison.Ordinal)
            && d.Message.Contains("503 NC", StringComparison.Ordinal));
        Assert.DoesNotContain(diagnostics, d => d.Message.Contains("140", StringComparison.Ordinal));
    }

    // route.go: a Host set for the whole route (rewrite.authority, or headers.request.set host/:authority) wins over
    // every destination's; Istio's integration case "set host header in route and multi destination".
    [Fact]
    public void A_route_level_Host_header_that_beats_the_per_destination_Hosts_is_named()
    {
        var diagnostics = AnalyzeEdited(folder => folder.Replace(MeshYaml.SidecarFile, "      timeout: 5s",
            "      headers:\n        request:\n          set:\n            :authority: hello-istio-v1.apps.example.com\n      timeout: 5s"));
        var finding = Assert.Single(diagnostics, d => d.Field == "spec.http[0].headers.request.set.host"
            && d.Message.StartsWith("sets Host", StringComparison.Ordinal));
        Assert.Equal(DiagnosticSeverity.Warning, finding.Severity);
        Assert.Contains("beats the per-destination Host of spec.http[0].route[1]", finding.Message, StringComparison.Ordinal);
        // And the v2 subset's SNI no longer fits the Host really sent: named on the route-level field too.
        Assert.Contains(diagnostics, d => d.Field == "spec.http[0].headers.request.set.host"
            && d.Message.StartsWith("is 'hello-istio-v1.apps.example.com' (the route-level Host, which beats spec.http[0].route[1]'s own) but subset 'v2'", StringComparison.Ordinal));
    }

    private const string SidecarFaultWarning = "is on the sidecar-side route, where Envoy's fault filter acts before the router: "
        + "this route's retries and timeout never see the fault (its {0}). Put the fault on the egress gateway's VirtualService";

    // Envoy's HTTP filter chain runs the fault filter before the router, whose route timeout, perTryTimeout and retries
    // start only once the delay is over (pilot/pkg/networking/core/listener_builder.go appends the fault filter before
    // the router).
    [Theory]
    [InlineData("5s", false, "delay is not cut by the timeout")]
    [InlineData(null, true, "delay is not cut by a perTryTimeout, and never retried")]
    [InlineData("5s", true, "delay is not cut by the timeout or a perTryTimeout, and never retried")]
    public void A_delay_on_the_sidecar_route_next_to_its_timeout_or_retries_is_named(string? timeout, bool retries, string missed)
    {
        var diagnostics = AnalyzeEdited(folder => folder.Write(MeshYaml.SidecarFile, MeshYaml.Sidecar(50, 50, timeout: timeout,
            retries: retries ? MeshYaml.Retries(2, "5xx", perTryTimeout: "1s") : null, fault: MeshYaml.Delay("3s", 50))));
        var finding = Assert.Single(diagnostics, d => d.Field == "spec.http[0].fault");
        Assert.Equal(DiagnosticSeverity.Warning, finding.Severity);
        Assert.Equal("virtual-service-hello.yaml", Path.GetFileName(finding.File));
        Assert.Equal("VirtualService 'hello'", finding.Resource);
        Assert.Equal(string.Format(System.Globalization.CultureInfo.InvariantCulture, SidecarFaultWarning, missed), finding.Message);
    }

    // route.go TranslateFault: an abort without percentage gets none, which Envoy reads as 0%.
    [Fact]
    public void A_fault_without_percentage_is_named_as_never_firing()
    {
        var diagnostics = AnalyzeEdited(folder => folder.Write(MeshYaml.EgressFile, MeshYaml.Egress(fault: "abort:\n  httpStatus: 418\n")));
        Assert.Contains(diagnostics, d => d.Field == "spec.http[0].fault.abort.percentage" && d.Message.Contains("aborts no request", StringComparison.Ordinal));
    }

    // route.go TranslateFault: a delay without percentage takes the deprecated integer percent, 0 when absent too
    // (translateIntegerToFractionalPercent(0): 0 per HUNDRED), so Envoy delays no request. Both hosts' routes are named.
    [Fact]
    public void A_delay_without_percentage_is_named_as_never_firing()
    {
        var diagnostics = AnalyzeEdited(folder => folder.Write(MeshYaml.EgressFile, MeshYaml.Egress(fault: "delay:\n  fixedDelay: 3s\n")));
        var findings = diagnostics.Where(d => d.Field?.EndsWith(".fault.delay.percentage", StringComparison.Ordinal) == true).ToList();
        Assert.Equal(["spec.http[0].fault.delay.percentage", "spec.http[1].fault.delay.percentage"], findings.Select(f => f.Field));
        Assert.All(findings, finding =>
        {
            Assert.Equal(DiagnosticSeverity.Warning, finding.Severity);
            Assert.Equal("virtual-service-hello-egress.yaml", Path.GetFileName(finding.File));
            Assert.Equal("VirtualService 'hello-egress'", finding.Resource);
            Assert.Equal("is missing, and so is the deprecated percent: Istio writes percent 0 and Envoy then delays no request; set percentage.value (0–100)", finding.Message);
        });
    }

    // route.go buildSidecarVirtualHostsForVirtualService: only HTTP (or sniffed) ports get HTTP routes.
    [Fact]
    public void Http_routes_for_a_host_whose_ports_are_all_HTTPS_are_named_as_never_applying()
    {
        var diagnostics = AnalyzeEdited(folder => folder.Write("virtual-service-cf-direct.yaml", """
            apiVersion: networking.istio.io/v1
            kind: VirtualService
            metadata:
              name: cf-direct
              namespace: istio-system
            spec:
              exportTo: ["."]
              hosts: [hello-istio-v1.apps.example.com]
              http:
                - route:
                    - destination: { host: hello-istio-v1.apps.example.com }
            """));
        Assert.Contains(diagnostics, d => d.Resource == "VirtualService 'cf-direct'" && d.Message.Contains("never applies", StringComparison.Ordinal)
            && d.Message.Contains("443/HTTPS", StringComparison.Ordinal));
    }

    // push_context.go: a ServiceEntry exported only to its own namespace gives other namespaces no cluster: 503 NC.
    [Fact]
    public void A_route_to_a_host_not_exported_to_the_proxys_namespace_is_named_as_503_NC()
    {
        var diagnostics = AnalyzeEdited(folder => folder.Write(MeshYaml.SidecarFile, $$"""
            apiVersion: networking.istio.io/v1
            kind: VirtualService
            metadata:
              name: hello
              namespace: demo
            spec:
              exportTo: ["."]
              hosts: [hello.external]
              http:
                - route:
                    - destination: { host: {{GatewayHost.V1Host}}, port: { number: 443 } }
                      headers: { request: { set: { host: {{GatewayHost.V1Host}} } } }
            """));
        Assert.Contains(diagnostics, d => d.Resource == "VirtualService 'hello'"
            && d.Message.Contains($"routes to cluster 'outbound|443||{GatewayHost.V1Host}', which the workload's sidecar (namespace demo) does not have", StringComparison.Ordinal));
    }

    // istioctl analyze (virtualservice/destinationhosts.go, util/service_lookup.go GetDestinationHost): the destinations
    // of tls and tcp routes are looked up as an http route's are — registered by a ServiceEntry exported to the
    // VirtualService's namespace.
    [Fact]
    public void Tls_and_tcp_route_destinations_unregistered_or_not_exported_to_the_routes_namespace_are_named()
    {
        var diagnostics = AnalyzeEdited(folder => folder.Write("virtual-service-tls.yaml", $$"""
            apiVersion: networking.istio.io/v1
            kind: VirtualService
            metadata:
              name: passthrough
              namespace: demo
            spec:
              exportTo: ["."]
              hosts: [hello.external]
              tls:
                - match: [{ port: 443, sniHosts: [hello.external] }]
                  route: [{ destination: { host: {{GatewayHost.V1Host}}, port: { number: 443 } } }]
              tcp:
                - match: [{ port: 9000 }]
                  route: [{ destination: { host: nowhere.example.com, port: { number: 9000 } } }]
            """));
        Assert.Contains(diagnostics, d => d.Resource == "VirtualService 'passthrough'" && d.Field == "spec.tls[0].route[0].destination.host"
            && d.Message.Contains("whose exportTo [.] does not reach namespace 'demo'", StringComparison.Ordinal));
        Assert.Contains(diagnostics, d => d.Resource == "VirtualService 'passthrough'" && d.Field == "spec.tcp[0].route[0].destination.host"
            && d.Message.Contains("'nowhere.example.com' is not registered", StringComparison.Ordinal));
    }

    // gateway.go buildGatewayNetworkFiltersFromTCPRoutes: a TLS server that terminates (here ISTIO_MUTUAL) has one TCP
    // proxy for all its hosts, the first bound VirtualService's tcp route; two VirtualServices for two of its hosts are
    // named, one server per host is not.
    [Theory]
    [InlineData(true, 2)]
    [InlineData(false, 0)]
    public void Two_VirtualServices_tcp_routing_hosts_of_one_terminating_server_are_named(bool sharedServer, int warnings)
    {
        static string Route(string name, string host) => $$"""
            apiVersion: networking.istio.io/v1
            kind: VirtualService
            metadata: { name: {{name}}, namespace: istio-system }
            spec:
              hosts: [{{host}}]
              gateways: [egress]
              tcp:
                - match: [{ port: 443 }]
                  route: [{ destination: { host: {{host}}, port: { number: 443 } } }]
            """;
        var servers = sharedServer
            ? "    - { port: { number: 443, name: tls, protocol: TLS }, hosts: [a.example.com, b.example.com], tls: { mode: ISTIO_MUTUAL } }"
            : "    - { port: { number: 443, name: tls-a, protocol: TLS }, hosts: [a.example.com], tls: { mode: ISTIO_MUTUAL } }\n    - { port: { number: 443, name: tls-b, protocol: TLS }, hosts: [b.example.com], tls: { mode: ISTIO_MUTUAL } }";
        var config = IstioConfigLoader.Parse("shared.yaml", string.Join("\n---\n", $$"""
            apiVersion: networking.istio.io/v1
            kind: Gateway
            metadata: { name: egress, namespace: istio-system }
            spec:
              selector: { istio: egressgateway }
              servers:
            {{servers}}
            """, Route("to-a", "a.example.com"), Route("to-b", "b.example.com")));
        Assert.False(config.HasErrors, string.Join('\n', config.Diagnostics));

        var named = IstioAnalyzer.Analyze(config).Where(d => d.Field == "spec.tcp").ToList();

        Assert.Equal(warnings, named.Count);
        Assert.All(named, d => Assert.Contains("is one of 2 VirtualServices ('to-a', 'to-b') with tcp routes for Gateway 'egress' servers[0] (port 443", d.Message, StringComparison.Ordinal));
    }

    // Istio's CRDs (1.30.3: shared/istio/crd-all.gen.yaml) serve VirtualService in v1, v1beta1 and v1alpha3 only;
    // kubectl apply of another version fails with "no matches for kind ... in version ...".
    [Fact]
    public void An_api_version_the_declared_Istio_does_not_serve_is_an_error_naming_file_resource_and_field()
    {
        var diagnostics = AnalyzeEdited(folder =>
            folder.Replace(MeshYaml.SidecarFile, "apiVersion: networking.istio.io/v1\n", "apiVersion: networking.istio.io/v1beta2\n"));

        var error = Assert.Single(diagnostics);
        Assert.Equal(DiagnosticSeverity.Error, error.Severity);
        Assert.EndsWith(MeshYaml.SidecarFile, error.File, StringComparison.Ordinal);
        Assert.Equal("VirtualService 'hello'", error.Resource);
        Assert.Equal("apiVersion", error.Field);
        Assert.Equal("'networking.istio.io/v1beta2' is not served by Istio 1.30 (it serves networking.istio.io/v1, v1beta1, v1alpha3)", error.Message);
        Assert.EndsWith(
            "virtual-service-hello.yaml: error: VirtualService 'hello': apiVersion: 'networking.istio.io/v1beta2' is not served by Istio 1.30 (it serves networking.istio.io/v1, v1beta1, v1alpha3)",
            error.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void The_unserved_api_version_error_names_the_declared_Istio_version()
    {
        var config = IstioConfigLoader.Parse("gateway.yaml", File.ReadAllText(Path.Combine(ConfigFolder.DeployIstio, "gateway-hello-cf-egress.yaml"))
            .Replace("apiVersion: networking.istio.io/v1\n", "apiVersion: networking.istio.io/v2alpha1\n", StringComparison.Ordinal));
        Assert.Empty(config.Diagnostics);

        var error = Assert.Single(IstioAnalyzer.Analyze(config, new MeshEnvironment { IstioVersion = IstioVersion.Parse("1.22") }));
        Assert.Equal(DiagnosticSeverity.Error, error.Severity);
        Assert.Equal(("gateway.yaml", "Gateway 'hello-cf-egress'", "apiVersion"), (error.File, error.Resource, error.Field));
        Assert.Equal("'networking.istio.io/v2alpha1' is not served by Istio 1.22 (it serves networking.istio.io/v1, v1beta1, v1alpha3)", error.Message);
    }

    [Fact]
    public void An_older_api_version_every_supported_Istio_serves_is_a_loader_warning_and_no_analyzer_error()
    {
        var diagnostics = AnalyzeEdited(folder =>
            folder.Replace(MeshYaml.SidecarFile, "apiVersion: networking.istio.io/v1\n", "apiVersion: networking.istio.io/v1alpha3\n"));

        var warning = Assert.Single(diagnostics);
        Assert.Equal(DiagnosticSeverity.Warning, warning.Severity);
        Assert.Equal(("VirtualService 'hello'", "apiVersion"), (warning.Resource, warning.Field));
        Assert.Equal("'networking.istio.io/v1alpha3' is an older API version; use networking.istio.io/v1", warning.Message);
    }

    [Fact]
    public async Task The_gateway_refuses_to_start_on_an_api_version_the_declared_Istio_does_not_serve()
    {
        var exception = await Assert.ThrowsAnyAsync<Exception>(() => GatewayHost.StartAsync(folder =>
            folder.Replace(MeshYaml.EgressFile, "apiVersion: networking.istio.io/v1\n", "apiVersion: networking.istio.io/v2\n")));
        var istio = exception as IstioConfigException ?? exception.InnerException as IstioConfigException;
        Assert.NotNull(istio);
        var error = Assert.Single(istio.Diagnostics, d => d.Severity == DiagnosticSeverity.Error);
        Assert.Equal(("VirtualService 'hello-egress'", "apiVersion"), (error.Resource, error.Field));
        Assert.Contains(
            "virtual-service-hello-egress.yaml: error: VirtualService 'hello-egress': apiVersion: 'networking.istio.io/v2' is not served by Istio 1.30 (it serves networking.istio.io/v1, v1beta1, v1alpha3)",
            istio.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void The_analyze_command_takes_the_Istio_version()
    {
        Assert.Equal(0, IstioAnalyzeCommand.Run([ConfigFolder.DeployIstio, "--istio-version", "1.22"], new StringWriter()));
        var output = new StringWriter();
        Assert.Equal(2, IstioAnalyzeCommand.Run([ConfigFolder.DeployIstio, "--istio-version", "1.21"], output));
        Assert.Contains("1.22", output.ToString(), StringComparison.Ordinal);
    }

    // A VirtualService of tls routes only has no http routes to warn about; the sidecar's TLS chain is built from its
    // tls routes (tls.go). For a host no ServiceEntry registers, those routes build no chain (getConfigsForHost).
    [Fact]
    public void Tls_routes_are_not_http_routes_that_never_apply_and_an_unregistered_host_gets_no_chain()
    {
        var config = IstioConfigLoader.Parse("tls.yaml", """
            apiVersion: networking.istio.io/v1
            kind: ServiceEntry
            metadata:
              name: cnn
            spec:
              hosts: [edition.cnn.com]
              ports: [{ number: 443, name: tls, protocol: TLS }]
              resolution: DNS
            ---
            apiVersion: networking.istio.io/v1
            kind: VirtualService
            metadata:
              name: cnn
            spec:
              hosts: [edition.cnn.com, unregistered.example.com]
              tls:
                - match: [{ port: 443, sniHosts: [edition.cnn.com, unregistered.example.com] }]
                  route: [{ destination: { host: edition.cnn.com, port: { number: 443 } } }]
            """);

        var findings = IstioAnalyzer.Analyze(config);

        Assert.DoesNotContain(findings, d => d.Message.Contains("never applies", StringComparison.Ordinal));
        var unregistered = Assert.Single(findings, d => d.Message.Contains("'unregistered.example.com' is not registered", StringComparison.Ordinal));
        Assert.Contains("builds no chain for its tls/tcp routes", unregistered.Message, StringComparison.Ordinal);
    }
}
