using System.Text.Json.Nodes;

namespace Demo.Deploy.Tests;

/// <summary>
/// <c>kubectl kustomize deploy</c> over a base generated from the published manifest in Aspirate's shape:
/// one apply puts the app, the Istio layer and the security objects where they belong.
/// </summary>
[Collection(DeployCollection.Name)]
public sealed class KustomizeRenderTests(DeployFixture fixture)
{
    private const string App = DeployTree.AppNamespace;
    private const string Egress = "istio-system";
    private static readonly string[] CfHosts = ["hello-istio-v1.apps.example.com", "hello-istio-v2.apps.example.com"];

    private IReadOnlyList<RenderedDocument> Whole => fixture.Whole;

    private RenderedDocument Single(string kind, string name) =>
        Assert.Single(Whole, d => d.Kind == kind && d.Name == name);

    [Fact]
    public void The_generated_base_has_Aspirates_shape()
    {
        // Per resource, Aspirate's configMapGenerator names get kustomize's hash suffix; envFrom follows it.
        Assert.Equal(
            ["ConfigMap caller-env", "ConfigMap proxy-env", "Deployment aspire-dashboard", "Deployment caller", "Deployment proxy", "Namespace demo",
             "Service aspire-dashboard", "Service caller", "Service proxy"],
            fixture.Base.Select(d => $"{d.Kind} {(d.Kind == "ConfigMap" ? d.Name[..d.Name.LastIndexOf('-')] : d.Name)}").Order(StringComparer.Ordinal));
        Assert.All(fixture.Base.Where(d => d.Kind != "Namespace"), d => Assert.Equal(DeployTree.AppNamespace, d.Namespace));
        foreach (var name in new[] { "proxy", "caller" })
        {
            var deployment = Assert.Single(fixture.Base, d => d.Kind == "Deployment" && d.Name == name).Json;
            Assert.Equal(name, (string?)deployment["spec"]!["selector"]!["matchLabels"]!["app"]);
            var container = deployment["spec"]!["template"]!["spec"]!["containers"]![0]!;
            Assert.Equal($"demo/{name}:latest", (string?)container["image"]);
            Assert.Equal(EnvConfigMap(fixture.Base, name).Name, (string?)container["envFrom"]![0]!["configMapRef"]!["name"]);
            var service = Assert.Single(fixture.Base, d => d.Kind == "Service" && d.Name == name).Json;
            Assert.Equal(["http:8080", "https:8443"], service["spec"]!["ports"]!.AsArray().Select(p => $"{p!["name"]}:{p["port"]}"));
        }
        var proxyEnv = EnvConfigMap(fixture.Base, "proxy").Json["data"]!;
        Assert.Equal("http://hello.external/", (string?)proxyEnv["Upstream__BaseAddress"]);
        Assert.Equal("8080", (string?)proxyEnv["HTTP_PORTS"]);
        var callerEnv = EnvConfigMap(fixture.Base, "caller").Json["data"]!;
        Assert.Equal("http://proxy:8080", (string?)callerEnv["services__proxy__http__0"]);
        // --include-dashboard true: the apps export to the dashboard Aspirate deploys next to them.
        Assert.All(new[] { proxyEnv, callerEnv }, env => Assert.Equal("http://aspire-dashboard:18889", (string?)env["OTEL_EXPORTER_OTLP_ENDPOINT"]));
        var dashboard = Assert.Single(fixture.Base, d => d.Kind == "Service" && d.Name == "aspire-dashboard").Json;
        Assert.Equal(["dashboard-ui:18888", "otlp:18889"], dashboard["spec"]!["ports"]!.AsArray().Select(p => $"{p!["name"]}:{p["port"]}"));
    }

    [Fact]
    public void Every_object_is_in_its_namespace()
    {
        var egressSide = new[] { "ServiceEntry hello-cf", "Gateway hello-cf-egress", "VirtualService hello-egress",
            "DestinationRule hello-istio-v1", "DestinationRule hello-istio-v2", "AuthorizationPolicy hello-cf-only-from-proxy",
            "Telemetry hello-cf-egress-tracing" };
        foreach (var document in Whole)
        {
            var id = $"{document.Kind} {document.Name}";
            var expected = document.Kind == "Namespace" ? null : egressSide.Contains(id) ? Egress : App;
            Assert.True(expected == document.Namespace, $"{id} is in namespace '{document.Namespace}', expected '{expected}'");
        }
        Assert.All(egressSide, id => Assert.Contains(Whole, d => $"{d.Kind} {d.Name}" == id));
        Assert.DoesNotContain(Whole, d => d.Kind == "ConfigMap" && d.Name == "cluster-settings");
    }

    [Fact]
    public void The_app_namespace_has_sidecar_injection()
    {
        var ns = Single("Namespace", App);
        Assert.Equal("enabled", (string?)ns.Json["metadata"]!["labels"]!["istio-injection"]);
    }

    [Fact]
    public void The_proxy_and_only_the_proxy_runs_as_the_proxy_ServiceAccount()
    {
        var account = Single("ServiceAccount", "proxy");
        Assert.Equal(App, account.Namespace);
        Assert.Equal("proxy", (string?)Single("Deployment", "proxy").Spec["template"]!["spec"]!["serviceAccountName"]);
        Assert.Null(Single("Deployment", "caller").Spec["template"]!["spec"]!["serviceAccountName"]);
    }

    [Fact]
    public void The_egress_gateway_lets_only_the_proxy_reach_the_CF_hosts()
    {
        var policy = Single("AuthorizationPolicy", "hello-cf-only-from-proxy");
        var spec = policy.Spec;
        Assert.Equal("egressgateway", (string?)spec["selector"]!["matchLabels"]!["istio"]);
        Assert.Equal("DENY", (string?)spec["action"]);
        var rule = Assert.Single(spec["rules"]!.AsArray())!;
        var source = Assert.Single(rule["from"]!.AsArray())!["source"]!;
        Assert.Equal([$"cluster.local/ns/{App}/sa/proxy"], Strings(source["notPrincipals"]));
        Assert.Null(source["principals"]);
        // The CF host as the connection's SNI, not the request's hosts (HTTP-only: a DENY rule on a TCP chain drops it).
        Assert.Null(rule["to"]);
        var condition = Assert.Single(rule["when"]!.AsArray())!;
        Assert.Equal("connection.sni", (string?)condition["key"]);
        Assert.Equal(CfHosts, Strings(condition["values"]));
    }

    [Fact]
    public void Sidecars_and_the_gateway_talk_mTLS()
    {
        var server = Assert.Single(Single("Gateway", "hello-cf-egress").Spec["servers"]!.AsArray())!;
        Assert.Equal("ISTIO_MUTUAL", (string?)server["tls"]!["mode"]);
        Assert.Equal(CfHosts.Select(h => "./" + h), Strings(server["hosts"]));

        var subsets = Single("DestinationRule", "istio-egressgateway").Spec["subsets"]!.AsArray();
        Assert.All(subsets, s => Assert.Equal("ISTIO_MUTUAL", (string?)s!["trafficPolicy"]!["portLevelSettings"]![0]!["tls"]!["mode"]));

        var peer = Single("PeerAuthentication", "default");
        Assert.Equal(App, peer.Namespace);
        Assert.Equal("STRICT", (string?)peer.Spec["mtls"]!["mode"]);
    }

    [Fact]
    public void The_app_namespace_is_REGISTRY_ONLY_and_sees_only_itself_and_istio_system()
    {
        var sidecar = Single("Sidecar", "default");
        Assert.Equal("REGISTRY_ONLY", (string?)sidecar.Spec["outboundTrafficPolicy"]!["mode"]);
        Assert.Null(sidecar.Spec["workloadSelector"]);
        Assert.Equal(["./*", "istio-system/*"], Strings(Assert.Single(sidecar.Spec["egress"]!.AsArray())!["hosts"]));
    }

    [Fact]
    public void App_pods_reach_only_their_namespace_istiod_DNS_and_the_egress_gateway()
    {
        var policies = Whole.Where(d => d.Kind == "NetworkPolicy").OrderBy(d => d.Name, StringComparer.Ordinal).ToList();
        Assert.Equal(["app-egress-dns", "app-egress-egress-gateway", "app-egress-istiod", "app-egress-own-namespace"], policies.Select(p => p.Name));
        var peers = new List<string>();
        foreach (var policy in policies)
        {
            Assert.Equal(App, policy.Namespace);
            Assert.Empty(policy.Spec["podSelector"]!.AsObject());
            Assert.Equal(["Egress"], Strings(policy.Spec["policyTypes"]));
            foreach (var rule in policy.Spec["egress"]!.AsArray())
            {
                var ports = string.Join(",", rule!["ports"]?.AsArray().Select(p => $"{p!["protocol"]}/{p["port"]}") ?? ["any"]);
                peers.AddRange(rule["to"]!.AsArray().Select(to => $"{policy.Name}: {to!.ToJsonString()} {ports}"));
            }
        }
        Assert.Equal([
            """app-egress-dns: {"namespaceSelector":{"matchLabels":{"kubernetes.io/metadata.name":"kube-system"}},"podSelector":{"matchLabels":{"k8s-app":"kube-dns"}}} UDP/53,TCP/53""",
            """app-egress-dns: {"ipBlock":{"cidr":"169.254.20.10/32"}} UDP/53,TCP/53""",
            """app-egress-dns: {"ipBlock":{"cidr":"10.96.0.10/32"}} UDP/53,TCP/53""",
            """app-egress-egress-gateway: {"namespaceSelector":{"matchLabels":{"kubernetes.io/metadata.name":"istio-system"}},"podSelector":{"matchLabels":{"istio":"egressgateway"}}} TCP/8443,TCP/443""",
            """app-egress-istiod: {"namespaceSelector":{"matchLabels":{"kubernetes.io/metadata.name":"istio-system"}},"podSelector":{"matchLabels":{"app":"istiod"}}} TCP/15012""",
            """app-egress-own-namespace: {"podSelector":{}} any""",
        ], peers);
    }

    [Fact]
    public void The_proxy_and_the_caller_capture_DNS_and_auto_allocate_per_workload()
    {
        foreach (var name in new[] { "proxy", "caller" })
        {
            var config = (string?)Single("Deployment", name).Spec["template"]!["metadata"]!["annotations"]!["proxy.istio.io/config"];
            var metadata = RenderedDocument.Parse($"kind: ProxyConfig\nspec:\n{string.Concat(config!.Split('\n').Select(l => "  " + l + "\n"))}").Json["spec"]!["proxyMetadata"]!;
            Assert.Equal("true", (string?)metadata["ISTIO_META_DNS_CAPTURE"]);
            Assert.Equal("true", (string?)metadata["ISTIO_META_DNS_AUTO_ALLOCATE"]);
        }
        Assert.Null(Single("Deployment", "aspire-dashboard").Spec["template"]!["metadata"]!["annotations"]);
    }

    [Fact]
    public void Tracing_is_on_for_the_app_namespace_and_the_egress_gateway_only()
    {
        var app = Single("Telemetry", "hello-tracing");
        Assert.Equal(App, app.Namespace);
        Assert.Null(app.Spec["selector"]);
        var gateway = Single("Telemetry", "hello-cf-egress-tracing");
        Assert.Equal(Egress, gateway.Namespace);
        Assert.Equal("egressgateway", (string?)gateway.Spec["selector"]!["matchLabels"]!["istio"]);
        foreach (var telemetry in new[] { app, gateway })
        {
            var tracing = Assert.Single(telemetry.Spec["tracing"]!.AsArray())!;
            Assert.Equal(["aspire-dashboard"], tracing["providers"]!.AsArray().Select(p => (string)p!["name"]!));
            Assert.Equal(100, (long)tracing["randomSamplingPercentage"]!);
        }
        var otlp = Single("Service", "aspire-dashboard").Spec["ports"]!.AsArray().Single(p => (string?)p!["name"] == "otlp")!;
        Assert.Equal("grpc", (string?)otlp["appProtocol"]);
    }

    [Fact]
    public void Istio_objects_are_visible_only_where_they_are_used()
    {
        foreach (var document in Whole.Where(d => d.Group == "networking.istio.io" && d.Kind is "ServiceEntry" or "VirtualService" or "DestinationRule"))
        {
            Assert.True(Strings(document.Spec["exportTo"]).SequenceEqual(["."]), $"{document} is exported beyond its namespace");
        }
        // The gateway-side VirtualService binds to the Gateway of its own namespace.
        var egress = Single("VirtualService", "hello-egress");
        Assert.Equal(["hello-cf-egress"], Strings(egress.Spec["gateways"]));
        Assert.Equal(Single("Gateway", "hello-cf-egress").Namespace, egress.Namespace);
        // The sidecar-side objects live with the app; the subsets' DestinationRule must be in the client's namespace.
        Assert.Equal(App, Single("VirtualService", "hello").Namespace);
        Assert.Equal("istio-egressgateway.istio-system.svc.cluster.local", (string?)Single("DestinationRule", "istio-egressgateway").Spec["host"]);
    }

    [Fact]
    public void Deploy_istio_renders_alone_and_holds_only_what_the_local_gateway_reads()
    {
        var files = Directory.EnumerateFiles(Repository.DeployIstio, "*.yaml")
            .Where(f => Path.GetFileName(f) != "kustomization.yaml").ToList();
        Assert.Equal(files.Count, fixture.IstioOnly.Count);
        Assert.All(fixture.IstioOnly, d =>
        {
            Assert.Equal("networking.istio.io/v1", d.ApiVersion);
            Assert.Contains(d.Kind, new[] { "ServiceEntry", "Gateway", "DestinationRule", "VirtualService" });
            // Each file states the side it belongs to (the default namespaces of deploy/settings.yaml), so that the
            // local gateway applies exportTo as the cluster does; replacements.yaml moves them to the configured ones.
            Assert.Contains(d.Namespace, new[] { "demo", "istio-system" });
        });
    }

    [Fact]
    public void The_app_objects_come_from_the_base_unchanged_but_for_identity_DNS_capture_and_the_OTLP_protocol()
    {
        foreach (var document in fixture.Base)
        {
            var rendered = Assert.Single(Whole, d => d.Kind == document.Kind && d.Name == document.Name);
            var expected = document.Json.DeepClone().AsObject();
            if (document.Kind == "Deployment" && document.Name == "proxy")
            {
                expected["spec"]!["template"]!["spec"]!["serviceAccountName"] = "proxy";
            }
            if (document.Kind == "Deployment" && document.Name is "proxy" or "caller")
            {
                expected["spec"]!["template"]!["metadata"]!["annotations"] = new JsonObject
                {
                    ["proxy.istio.io/config"] = "proxyMetadata:\n  ISTIO_META_DNS_CAPTURE: \"true\"\n  ISTIO_META_DNS_AUTO_ALLOCATE: \"true\"",
                };
            }
            if (document.Kind == "Service" && document.Name == "aspire-dashboard")
            {
                expected["spec"]!["ports"]![1]!["appProtocol"] = "grpc";
            }
            if (document.Kind == "Namespace")
            {
                expected["metadata"]!["labels"] = new JsonObject { ["istio-injection"] = "enabled" };
            }
            Assert.True(JsonNode.DeepEquals(expected, rendered.Json), $"{document} differs:\n{expected}\n{rendered.Json}");
        }
    }

    private static RenderedDocument EnvConfigMap(IEnumerable<RenderedDocument> documents, string resource) =>
        Assert.Single(documents, d => d.Kind == "ConfigMap" && d.Name.StartsWith($"{resource}-env", StringComparison.Ordinal));

    internal static IReadOnlyList<string> Strings(JsonNode? node) =>
        node?.AsArray().Select(n => (string)n!).ToList() ?? [];
}
