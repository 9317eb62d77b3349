using System.Net;

namespace Demo.Deploy.Tests.Reachability;

/// <summary>The NetworkPolicy semantics of the Kubernetes docs, one rule at a time.</summary>
public sealed class NetworkPolicyEvaluatorTests
{
    private readonly ClusterModel _cluster = new();
    private readonly Pod _client;
    private readonly Pod _server;
    private readonly Pod _otherNamespaceServer;
    private readonly Pod _dns;

    public NetworkPolicyEvaluatorTests()
    {
        _cluster.AddNamespace("app", new Dictionary<string, string> { ["team"] = "a" });
        _cluster.AddNamespace("other", new Dictionary<string, string> { ["team"] = "b" });
        _client = _cluster.AddPod("app", "client", new Dictionary<string, string> { ["app"] = "client" }, [new(8080)]);
        _server = _cluster.AddPod("app", "server", new Dictionary<string, string> { ["app"] = "server", ["tier"] = "web" }, [new(8080, "TCP", "http")]);
        _otherNamespaceServer = _cluster.AddPod("other", "server", new Dictionary<string, string> { ["app"] = "server" }, [new(8080, "TCP", "http")]);
        _dns = _cluster.AddPod("kube-system", "coredns", new Dictionary<string, string> { ["k8s-app"] = "kube-dns" }, [new(53, "UDP"), new(53)]);
    }

    private bool Allows(Pod from, Endpoint to, ContainerPort port, params string[] policies)
    {
        _cluster.NetworkPolicies.Clear();
        _cluster.AddRendered(policies.Select(p => RenderedDocument.Parse(p)));
        return new NetworkPolicyEvaluator(_cluster).Allows(from, to, port).Allowed;
    }

    private static string Egress(string ns, string body, string podSelector = "{}", string? policyTypes = "[Egress]") => $"""
        apiVersion: networking.k8s.io/v1
        kind: NetworkPolicy
        metadata: {"{"}name: p{body.GetHashCode(StringComparison.Ordinal) & 0xffff}, namespace: {ns}{"}"}
        spec:
          podSelector: {podSelector}
        {(policyTypes is null ? "" : $"  policyTypes: {policyTypes}\n")}{body}
        """;

    [Fact]
    public void A_pod_no_policy_selects_is_not_isolated()
    {
        Assert.True(Allows(_client, _otherNamespaceServer, new(8080)));
        Assert.True(Allows(_client, _otherNamespaceServer, new(8080), Egress("app", "  egress: []", podSelector: "{matchLabels: {app: nobody}}")));
    }

    [Fact]
    public void Without_policyTypes_a_policy_isolates_egress_only_when_it_has_an_egress_section()
    {
        // Every pod of 'app' is then isolated for ingress (no rule: nothing in), not for egress.
        Assert.True(Allows(_client, _otherNamespaceServer, new(8080), Egress("app", "", policyTypes: null)));
        Assert.False(Allows(_client, _server, new(8080), Egress("app", "", policyTypes: null)));
        Assert.False(Allows(_client, _otherNamespaceServer, new(8080), Egress("app", "  egress: []", policyTypes: null)));
        Assert.False(Allows(_client, _otherNamespaceServer, new(8080), Egress("app", "")));
    }

    [Fact]
    public void A_rule_without_to_or_ports_matches_everything()
    {
        Assert.True(Allows(_client, new AddressEndpoint("x", IPAddress.Parse("8.8.8.8")), new(9999, "UDP"), Egress("app", "  egress: [{}]")));
    }

    [Fact]
    public void A_podSelector_alone_selects_pods_of_the_policys_namespace_only()
    {
        var policy = Egress("app", "  egress: [{to: [{podSelector: {matchLabels: {app: server}}}]}]");
        Assert.True(Allows(_client, _server, new(8080), policy));
        Assert.False(Allows(_client, _otherNamespaceServer, new(8080), policy));
    }

    [Fact]
    public void A_namespaceSelector_alone_selects_every_pod_of_the_namespaces()
    {
        var policy = Egress("app", "  egress: [{to: [{namespaceSelector: {matchLabels: {team: b}}}]}]");
        Assert.True(Allows(_client, _otherNamespaceServer, new(8080), policy));
        Assert.False(Allows(_client, _server, new(8080), policy));
    }

    [Fact]
    public void Both_selectors_in_one_peer_are_ANDed_and_two_peers_are_ORed()
    {
        var and = Egress("app", "  egress: [{to: [{namespaceSelector: {matchLabels: {team: b}}, podSelector: {matchLabels: {app: client}}}]}]");
        Assert.False(Allows(_client, _otherNamespaceServer, new(8080), and));
        var or = Egress("app", "  egress: [{to: [{namespaceSelector: {matchLabels: {team: b}}}, {podSelector: {matchLabels: {app: client}}}]}]");
        Assert.True(Allows(_client, _otherNamespaceServer, new(8080), or));
    }

    [Fact]
    public void An_ipBlock_matches_its_CIDR_minus_except_and_selectors_never_match_an_address()
    {
        var policy = Egress("app", "  egress: [{to: [{ipBlock: {cidr: 169.254.0.0/16, except: [169.254.169.254/32]}}]}]");
        Assert.True(Allows(_client, new AddressEndpoint("node-local-dns", IPAddress.Parse("169.254.20.10")), new(53, "UDP"), policy));
        Assert.False(Allows(_client, new AddressEndpoint("metadata", IPAddress.Parse("169.254.169.254")), new(80), policy));
        var everyNamespace = Egress("app", "  egress: [{to: [{namespaceSelector: {}}]}]");
        Assert.True(Allows(_client, _otherNamespaceServer, new(8080), everyNamespace));
        Assert.False(Allows(_client, new AddressEndpoint("external", IPAddress.Parse("203.0.113.10")), new(443), everyNamespace));
    }

    [Fact]
    public void Ports_default_to_TCP_may_be_named_and_may_be_ranges()
    {
        var tcpOnly = Egress("app", "  egress: [{ports: [{port: 53}]}]");
        Assert.True(Allows(_client, _dns, new(53), tcpOnly));
        Assert.False(Allows(_client, _dns, new(53, "UDP"), tcpOnly));
        var named = Egress("app", "  egress: [{ports: [{port: http}]}]");
        Assert.True(Allows(_client, _server, new(8080, "TCP", "http"), named));
        Assert.False(Allows(_client, _dns, new(53), named));
        var range = Egress("app", "  egress: [{ports: [{port: 8000, endPort: 8100}]}]");
        Assert.True(Allows(_client, _server, new(8080), range));
        Assert.False(Allows(_client, _server, new(8443), range));
    }

    [Fact]
    public void Policies_add_up()
    {
        Assert.True(Allows(_client, _dns, new(53, "UDP"),
            Egress("app", "  egress: [{to: [{podSelector: {}}]}]"),
            Egress("app", "  egress: [{to: [{namespaceSelector: {}, podSelector: {matchLabels: {k8s-app: kube-dns}}}], ports: [{protocol: UDP, port: 53}]}]")));
    }

    [Fact]
    public void The_destinations_ingress_isolation_applies_too()
    {
        var denyIngress = Egress("app", "", podSelector: "{matchLabels: {tier: web}}", policyTypes: "[Ingress]");
        Assert.False(Allows(_client, _server, new(8080), denyIngress));
        var allowFromClient = Egress("app", "  ingress: [{from: [{podSelector: {matchLabels: {app: client}}}]}]", podSelector: "{matchLabels: {tier: web}}", policyTypes: "[Ingress]");
        Assert.True(Allows(_client, _server, new(8080), allowFromClient));
    }

    [Fact]
    public void MatchExpressions_follow_label_selector_operators()
    {
        Assert.True(Allows(_client, _server, new(8080), Egress("app", "  egress: [{to: [{podSelector: {matchExpressions: [{key: tier, operator: In, values: [web, api]}]}}]}]")));
        Assert.False(Allows(_client, _server, new(8080), Egress("app", "  egress: [{to: [{podSelector: {matchExpressions: [{key: tier, operator: NotIn, values: [web]}]}}]}]")));
        Assert.True(Allows(_client, _dns, new(53), Egress("app", "  egress: [{to: [{namespaceSelector: {}, podSelector: {matchExpressions: [{key: tier, operator: DoesNotExist}]}}]}]")));
        Assert.False(Allows(_client, _dns, new(53), Egress("app", "  egress: [{to: [{namespaceSelector: {}, podSelector: {matchExpressions: [{key: tier, operator: Exists}]}}]}]")));
    }
}
