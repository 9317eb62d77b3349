using System.Net;

namespace Demo.Deploy.Tests.Reachability;

/// <summary>The Istio semantics the reachability check follows: AuthorizationPolicy, Sidecar and exportTo, PeerAuthentication, Gateway, DNS, Telemetry.</summary>
public sealed class IstioPolicyEvaluationTests
{
    private const string Proxy = "cluster.local/ns/app/sa/proxy";
    private readonly ClusterModel _cluster = new();
    private readonly Pod _gateway;
    private readonly Pod _proxy;
    private readonly Pod _caller;
    private readonly Pod _web;

    public IstioPolicyEvaluationTests()
    {
        _cluster.AddNamespace("app", new Dictionary<string, string> { ["istio-injection"] = "enabled" });
        _cluster.AddNamespace("plain");
        _proxy = _cluster.AddPod("app", "proxy", new Dictionary<string, string> { ["app"] = "proxy" }, [new(8080)], "proxy",
            proxyMetadata: new Dictionary<string, string> { ["ISTIO_META_DNS_CAPTURE"] = "true", ["ISTIO_META_DNS_AUTO_ALLOCATE"] = "true" });
        _caller = _cluster.AddPod("app", "caller", new Dictionary<string, string> { ["app"] = "caller" }, [new(8080)]);
        _web = _cluster.AddPod("other", "web", new Dictionary<string, string> { ["app"] = "web" }, [new(8080)]);
        _gateway = _cluster.AddPod("egress", "istio-egressgateway", new Dictionary<string, string> { ["istio"] = "egressgateway" }, [new(8443)],
            "istio-egressgateway-service-account", isGateway: true);
        _cluster.Services.Add(new KubeService("istio-egressgateway", "egress", new Dictionary<string, string> { ["istio"] = "egressgateway" }, [new(443, "8443")]));
        _cluster.Services.Add(new KubeService("proxy", "app", new Dictionary<string, string> { ["app"] = "proxy" }, [new(8080, "8080")]));
        _cluster.Services.Add(new KubeService("web", "other", new Dictionary<string, string> { ["app"] = "web" }, [new(8080, "8080")]));
        _cluster.ExternalDns["cf.example.com"] = IPAddress.Parse("203.0.113.10");
        _cluster.ExternalDns["example.org"] = IPAddress.Parse("198.51.100.7");
    }

    private static IstioConfig Istio(string yaml) =>
        IstioConfig.Read(yaml.Length == 0 ? [] : RenderedDocument.ParseAll(yaml));

    private static Decision Authorize(string policies, Pod workload, string? principal, string host, int port = 443, string? sni = null, bool tcp = false) =>
        new AuthorizationPolicyEvaluator(Istio(policies), "istio-system").Evaluate(workload, new AuthorizationRequest(principal, host, port, sni, tcp));

    // pilot/pkg/security/authz/model/model.go Generate (forTCP): a DENY rule drops its HTTP-only fields, an ALLOW rule
    // with them is skipped (istio.io authz-tcp; builder testdata tcp/deny-both-http-tcp): a DENY on `hosts` denies
    // every other identity on every TCP chain of the workload, where `connection.sni` limits it to its hosts.
    [Fact]
    public void On_a_TCP_chain_a_DENY_rule_loses_its_hosts_and_an_ALLOW_rule_with_hosts_matches_nothing()
    {
        var denyByHost = Policy("egress", "  action: DENY\n  rules: [{from: [{source: {notPrincipals: [cluster.local/ns/app/sa/proxy]}}], to: [{operation: {hosts: [cf.example.com]}}]}]");
        Assert.True(Authorize(denyByHost, _gateway, "cluster.local/ns/other/sa/web", "other.example.com").Allowed);
        Assert.False(Authorize(denyByHost, _gateway, "cluster.local/ns/other/sa/web", "other.example.com", sni: "other.example.com", tcp: true).Allowed);
        Assert.True(Authorize(denyByHost, _gateway, Proxy, "cf.example.com", sni: "cf.example.com", tcp: true).Allowed);

        var denyBySni = Policy("egress", "  action: DENY\n  rules: [{from: [{source: {notPrincipals: [cluster.local/ns/app/sa/proxy]}}], when: [{key: connection.sni, values: [cf.example.com]}]}]");
        Assert.True(Authorize(denyBySni, _gateway, "cluster.local/ns/other/sa/web", "other.example.com", sni: "other.example.com", tcp: true).Allowed);
        Assert.False(Authorize(denyBySni, _gateway, "cluster.local/ns/other/sa/web", "cf.example.com", sni: "cf.example.com", tcp: true).Allowed);
        Assert.False(Authorize(denyBySni, _gateway, "cluster.local/ns/other/sa/web", "cf.example.com", sni: "cf.example.com").Allowed);
        Assert.True(Authorize(denyBySni, _gateway, Proxy, "cf.example.com", sni: "cf.example.com").Allowed);

        var allowByHost = Policy("egress", "  action: ALLOW\n  rules: [{to: [{operation: {hosts: [cf.example.com]}}]}]");
        Assert.False(Authorize(allowByHost, _gateway, Proxy, "cf.example.com", sni: "cf.example.com", tcp: true).Allowed);
        Assert.True(Authorize(allowByHost, _gateway, Proxy, "cf.example.com").Allowed);
    }

    private static string Policy(string ns, string spec) => $"apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {{name: p{spec.GetHashCode(StringComparison.Ordinal) & 0xffff}, namespace: {ns}}}\nspec:\n{spec}\n";

    [Fact]
    public void Without_policies_everything_is_allowed_and_an_ALLOW_policy_allows_only_what_it_matches()
    {
        Assert.True(Authorize("", _gateway, null, "cf.example.com").Allowed);
        var allowProxy = Policy("egress", "  action: ALLOW\n  rules: [{from: [{source: {principals: [cluster.local/ns/app/sa/proxy]}}], to: [{operation: {hosts: [cf.example.com]}}]}]");
        Assert.True(Authorize(allowProxy, _gateway, Proxy, "CF.example.com").Allowed);
        Assert.False(Authorize(allowProxy, _gateway, "cluster.local/ns/app/sa/default", "cf.example.com").Allowed);
        Assert.False(Authorize(allowProxy, _gateway, Proxy, "other.example.com").Allowed);
        Assert.False(Authorize(allowProxy, _gateway, null, "cf.example.com").Allowed);
    }

    [Fact]
    public void No_rules_match_nothing_and_an_empty_rule_matches_everything()
    {
        Assert.False(Authorize(Policy("egress", "  action: ALLOW"), _gateway, Proxy, "cf.example.com").Allowed);
        Assert.True(Authorize(Policy("egress", "  action: ALLOW\n  rules: [{}]"), _gateway, null, "x").Allowed);
        Assert.False(Authorize(Policy("egress", "  action: DENY\n  rules: [{}]"), _gateway, Proxy, "x").Allowed);
    }

    [Fact]
    public void DENY_wins_and_notPrincipals_matches_plain_text()
    {
        var deny = Policy("egress", "  action: DENY\n  rules: [{from: [{source: {notPrincipals: [cluster.local/ns/app/sa/proxy]}}], to: [{operation: {hosts: [cf.example.com]}}]}]");
        var allowAll = Policy("egress", "  action: ALLOW\n  rules: [{}]");
        Assert.True(Authorize(deny + "---\n" + allowAll, _gateway, Proxy, "cf.example.com").Allowed);
        var denied = Authorize(deny + "---\n" + allowAll, _gateway, "cluster.local/ns/app/sa/default", "cf.example.com");
        Assert.Equal("AuthorizationPolicy", denied.Layer);
        Assert.False(Authorize(deny, _gateway, null, "cf.example.com").Allowed);
        Assert.True(Authorize(deny, _gateway, "cluster.local/ns/app/sa/default", "other.example.com").Allowed);
    }

    [Fact]
    public void Values_match_exactly_by_prefix_or_suffix_and_star_means_present()
    {
        Assert.True(AuthorizationPolicyEvaluator.StringMatches("*.example.com", "cf.example.com", ignoreCase: true));
        Assert.True(AuthorizationPolicyEvaluator.StringMatches("cluster.local/ns/app/*", Proxy, ignoreCase: false));
        Assert.True(AuthorizationPolicyEvaluator.StringMatches("*", "anything", ignoreCase: false));
        Assert.False(AuthorizationPolicyEvaluator.StringMatches("*", null, ignoreCase: false));
        Assert.False(AuthorizationPolicyEvaluator.StringMatches("Cluster.local/ns/app/sa/proxy", Proxy, ignoreCase: false));
        var byNamespace = Policy("egress", "  action: ALLOW\n  rules: [{from: [{source: {namespaces: [app]}}], to: [{operation: {ports: [\"443\"]}}]}]");
        Assert.True(Authorize(byNamespace, _gateway, Proxy, "x", 443).Allowed);
        Assert.False(Authorize(byNamespace, _gateway, Proxy, "x", 8443).Allowed);
        Assert.False(Authorize(byNamespace, _gateway, "cluster.local/ns/other/sa/proxy", "x").Allowed);
    }

    [Fact]
    public void A_policy_applies_to_its_selected_workloads_in_its_namespace_or_the_whole_mesh_from_the_root_namespace()
    {
        var denyAll = "  action: DENY\n  rules: [{}]";
        Assert.True(Authorize(Policy("egress", "  selector: {matchLabels: {app: other}}\n" + denyAll), _gateway, Proxy, "x").Allowed);
        Assert.True(Authorize(Policy("app", denyAll), _gateway, Proxy, "x").Allowed);
        Assert.False(Authorize(Policy("istio-system", denyAll), _gateway, Proxy, "x").Allowed);
        Assert.Throws<NotSupportedException>(() => Authorize(Policy("egress", "  action: CUSTOM\n  provider: {name: ext}\n  rules: [{}]"), _gateway, Proxy, "x"));
    }

    private MeshReachability Mesh(string istio, string outboundTrafficPolicy = "ALLOW_ANY", Dictionary<string, string>? proxyMetadata = null) =>
        new(_cluster, Istio(istio), new MeshConfig(outboundTrafficPolicy, "istio-system", proxyMetadata ?? [], new Dictionary<string, (string, int)>()));

    private const string CfEntry = "apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: {name: cf, namespace: egress}\nspec: {hosts: [cf.example.com], exportTo: ['.'], ports: [{number: 443, name: https, protocol: HTTPS}], resolution: DNS}\n";

    private static string Sidecar(string ns, string hosts, string mode = "REGISTRY_ONLY", string? selector = null) =>
        $"apiVersion: networking.istio.io/v1\nkind: Sidecar\nmetadata: {{name: s{hosts.GetHashCode(StringComparison.Ordinal) & 0xffff}, namespace: {ns}}}\nspec:\n"
        + (selector is null ? "" : $"  workloadSelector: {{labels: {selector}}}\n") + $"  egress: [{{hosts: {hosts}}}]\n  outboundTrafficPolicy: {{mode: {mode}}}\n";

    [Fact]
    public void A_Sidecar_imports_hosts_by_namespace_and_exportTo_still_limits_them()
    {
        Assert.True(Mesh(Sidecar("app", "['./*']")).IsVisible(_caller, "proxy.app.svc.cluster.local", out _));
        Assert.False(Mesh(Sidecar("app", "['./*']")).IsVisible(_caller, "web.other.svc.cluster.local", out _));
        Assert.True(Mesh(Sidecar("app", "['other/*']")).IsVisible(_caller, "web.other.svc.cluster.local", out _));
        Assert.True(Mesh(Sidecar("app", "['*/web.other.svc.cluster.local']")).IsVisible(_caller, "web.other.svc.cluster.local", out _));
        Assert.False(Mesh(Sidecar("app", "['~/*']")).IsVisible(_caller, "proxy.app.svc.cluster.local", out _));
        Assert.False(Mesh(CfEntry + "---\n" + Sidecar("app", "['*/*']")).IsVisible(_caller, "cf.example.com", out _));
        Assert.True(Mesh(CfEntry).IsVisible(_gateway, "cf.example.com", out _));
    }

    [Fact]
    public void The_workloads_Sidecar_wins_over_the_namespaces_which_wins_over_the_root_namespaces_and_gateways_ignore_them()
    {
        var mesh = Mesh(Sidecar("istio-system", "['*/*']", "ALLOW_ANY") + "---\n" + Sidecar("app", "['./*']") + "---\n" + Sidecar("app", "['other/*']", selector: "{app: caller}"));
        Assert.Equal("app", mesh.SidecarFor(_caller)!.Namespace);
        Assert.NotNull(mesh.SidecarFor(_caller)!.WorkloadSelector);
        Assert.Null(mesh.SidecarFor(_proxy)!.WorkloadSelector);
        Assert.Null(mesh.SidecarFor(_gateway));
        Assert.Equal("istio-system", Mesh(Sidecar("istio-system", "['*/*']")).SidecarFor(_caller)!.Namespace);
    }

    [Fact]
    public void An_unknown_host_goes_to_the_BlackHoleCluster_under_REGISTRY_ONLY_and_out_under_ALLOW_ANY()
    {
        var blocked = Assert.Single(Mesh(Sidecar("app", "['./*']")).AppRequest(_caller, "example.org", 443));
        Assert.Equal("Sidecar", blocked.Denial?.Layer);
        Assert.True(Assert.Single(Mesh("").AppRequest(_caller, "example.org", 443)).Allowed);
        Assert.Equal("Sidecar", Assert.Single(Mesh("", "REGISTRY_ONLY").AppRequest(_caller, "example.org", 443)).Denial?.Layer);
    }

    [Fact]
    public void A_host_that_exists_only_as_a_ServiceEntry_needs_DNS_capture_and_auto_allocation()
    {
        const string entry = "apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: {name: ext, namespace: app}\nspec: {hosts: [hello.external], exportTo: ['.'], ports: [{number: 80, name: http, protocol: HTTP}], resolution: DNS}\n";
        Assert.Equal("DNS", Assert.Single(Mesh(entry).AppRequest(_caller, "hello.external", 80)).Denial?.Layer);
        var withCapture = Mesh(entry).AppRequest(_proxy, "hello.external", 80);
        Assert.DoesNotContain(withCapture, r => r.Denial?.Layer == "DNS");
        var meshWide = Mesh(entry, proxyMetadata: new() { ["ISTIO_META_DNS_CAPTURE"] = "true", ["ISTIO_META_DNS_AUTO_ALLOCATE"] = "true" });
        Assert.DoesNotContain(meshWide.AppRequest(_caller, "hello.external", 80), r => r.Denial?.Layer == "DNS");
    }

    [Fact]
    public void STRICT_PeerAuthentication_refuses_plain_text_and_the_workloads_own_overrides_the_namespaces()
    {
        var outside = _cluster.AddPod("plain", "legacy", new Dictionary<string, string> { ["app"] = "legacy" }, [new(8080)]);
        Assert.False(outside.InMesh);
        const string strict = "apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: {name: default, namespace: app}\nspec: {mtls: {mode: STRICT}}\n";
        Assert.Equal("PeerAuthentication", Assert.Single(Mesh(strict).AppRequest(outside, "proxy.app.svc.cluster.local", 8080)).Denial?.Layer);
        Assert.True(Assert.Single(Mesh(strict).AppRequest(_caller, "proxy.app.svc.cluster.local", 8080)).Allowed);
        const string permissiveForProxy = "apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: {name: proxy, namespace: app}\nspec: {selector: {matchLabels: {app: proxy}}, mtls: {mode: PERMISSIVE}}\n";
        Assert.True(Assert.Single(Mesh(strict + "---\n" + permissiveForProxy).AppRequest(outside, "proxy.app.svc.cluster.local", 8080)).Allowed);
        Assert.True(Assert.Single(Mesh("").AppRequest(outside, "proxy.app.svc.cluster.local", 8080)).Allowed);
    }

    private const string Gateway = """
        apiVersion: networking.istio.io/v1
        kind: Gateway
        metadata: {name: cf-egress, namespace: egress}
        spec:
          selector: {istio: egressgateway}
          servers: [{port: {number: 443, name: https, protocol: HTTPS}, hosts: [./cf.example.com], tls: {mode: ISTIO_MUTUAL}}]
        ---
        apiVersion: networking.istio.io/v1
        kind: VirtualService
        metadata: {name: cf, namespace: NS}
        spec:
          hosts: [cf.example.com]
          gateways: [GW]
          exportTo: ['.']
          http: [{name: cf, match: [{port: 443, authority: {exact: cf.example.com}}], route: [{destination: {host: cf.example.com, port: {number: 443}}}]}]

        """;

    [Fact]
    public void At_the_gateway_the_SNI_selects_the_server_and_the_Host_the_route()
    {
        var mesh = Mesh(CfEntry + "---\n" + Gateway.Replace("NS", "egress", StringComparison.Ordinal).Replace("GW", "cf-egress", StringComparison.Ordinal));
        Assert.True(Assert.Single(mesh.GatewayRequest(_proxy, _gateway, 443, "cf.example.com", "cf.example.com")).Allowed);
        var wrongSni = Assert.Single(mesh.GatewayRequest(_proxy, _gateway, 443, "other.example.com", "cf.example.com"));
        Assert.Contains("no filter chain", wrongSni.Denial!.Reason, StringComparison.Ordinal);
        var wrongHost = Assert.Single(mesh.GatewayRequest(_proxy, _gateway, 443, "cf.example.com", "other.example.com"));
        Assert.Contains("404 NR", wrongHost.Denial!.Reason, StringComparison.Ordinal);
        var autoMtls = Assert.Single(mesh.AppRequest(_caller, "istio-egressgateway.egress.svc.cluster.local", 443));
        Assert.Equal("Gateway", autoMtls.Denial?.Layer);
    }

    [Fact]
    public void A_server_host_with_dot_binds_only_VirtualServices_of_the_Gateways_namespace()
    {
        var elsewhere = Mesh(CfEntry + "---\n" + Gateway.Replace("NS", "app", StringComparison.Ordinal).Replace("GW", "egress/cf-egress", StringComparison.Ordinal)
            .Replace("exportTo: ['.']", "exportTo: ['*']", StringComparison.Ordinal));
        Assert.Contains("404 NR", Assert.Single(elsewhere.GatewayRequest(_proxy, _gateway, 443, "cf.example.com", "cf.example.com")).Denial!.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void A_workload_selected_Telemetry_overrides_the_namespaces_and_can_turn_spans_off()
    {
        const string telemetry = """
            apiVersion: telemetry.istio.io/v1
            kind: Telemetry
            metadata: {name: all, namespace: app}
            spec: {tracing: [{providers: [{name: otel}], randomSamplingPercentage: 100}]}
            ---
            apiVersion: telemetry.istio.io/v1
            kind: Telemetry
            metadata: {name: quiet, namespace: app}
            spec: {selector: {matchLabels: {app: caller}}, tracing: [{disableSpanReporting: true}]}

            """;
        var mesh = Mesh(telemetry);
        Assert.Equal(["otel"], mesh.TracingProviders(_proxy));
        Assert.Empty(mesh.TracingProviders(_caller));
        Assert.Empty(mesh.TracingProviders(_gateway));
    }

    [Fact]
    public void A_field_the_check_does_not_model_is_refused_not_ignored()
    {
        Assert.Throws<NotSupportedException>(() => Istio("apiVersion: networking.istio.io/v1\nkind: Sidecar\nmetadata: {name: s, namespace: app}\nspec: {egress: [{port: {number: 80}, hosts: ['./*']}]}\n"));
        Assert.Throws<NotSupportedException>(() => Istio(Policy("egress", "  action: ALLOW\n  rules: [{when: [{key: 'request.headers[x]', values: [y]}]}]")));
    }
}
