using System.Net;
using System.Text.RegularExpressions;

namespace Demo.Deploy.Tests.Reachability;

/// <summary>
/// A render of deploy/ placed in the cluster the install of deploy/README.md builds: istiod (istioctl's labels and
/// ports), the egress gateway of <c>components.egressGateways</c> (istio-egress chart: labels
/// <c>app: istio-egressgateway</c>, <c>istio: egressgateway</c>, Service port 443 → pod port 8443, its own
/// ServiceAccount), CoreDNS as <c>kube-dns</c>, NodeLocal DNSCache on the host network, and public DNS for the CF
/// hosts and one host nobody registered.
/// NodeLocal DNSCache is modelled in its common iptables mode (Kubernetes docs, "Using NodeLocal DNSCache in Kubernetes
/// Clusters"; kubernetes/kubernetes#70555): kubelet's <c>--cluster-dns</c> stays the kube-dns ClusterIP, and the
/// cache, on the host network, listens on its link-local address and on that ClusterIP (a dummy interface of the
/// node, NOTRACK: no DNAT) — so a pod's query to the ClusterIP reaches an address, not a kube-dns pod.
/// </summary>
internal sealed partial class ClusterUnderTest
{
    public const string UnregisteredHost = "example.org";
    public static readonly ContainerPort Xds = new(15012);
    public static readonly ContainerPort DnsUdp = new(53, "UDP", "dns");
    public static readonly ContainerPort DnsTcp = new(53, "TCP", "dns-tcp");

    private ClusterUnderTest(IReadOnlyList<RenderedDocument> documents, Settings settings)
    {
        Documents = documents;
        Settings = settings;
        Install = MeshConfig.Parse(InstallSnippet()["spec"]?["meshConfig"]?.AsObject());
        Cluster.AddRendered(documents);
        Istiod = Cluster.AddPod(settings.IstioNamespace, "istiod", Labels(("app", "istiod"), ("istio", "pilot")),
            [new(15010), Xds, new(15014), new(15017)], "istiod");
        Cluster.Services.Add(new KubeService("istiod", settings.IstioNamespace, Labels(("app", "istiod"), ("istio", "pilot")),
            [new(15010, "15010"), new(15012, "15012"), new(443, "15017"), new(15014, "15014")]));
        EgressGateway = Cluster.AddPod(settings.EgressGatewayNamespace, "istio-egressgateway", Labels(("app", "istio-egressgateway"), ("istio", "egressgateway")),
            [new(8080), new(8443), new(15090, "TCP", "http-envoy-prom")], "istio-egressgateway-service-account", isGateway: true);
        Cluster.Services.Add(new KubeService("istio-egressgateway", settings.EgressGatewayNamespace, Labels(("app", "istio-egressgateway"), ("istio", "egressgateway")),
            [new(80, "8080", Name: "http2"), new(443, "8443", Name: "https")]));
        KubeDns = Cluster.AddPod("kube-system", "coredns", Labels(("k8s-app", "kube-dns")), [DnsUdp, DnsTcp, new(9153)], "coredns");
        Cluster.Services.Add(new KubeService("kube-dns", "kube-system", Labels(("k8s-app", "kube-dns")), [new(53, "53", "UDP"), new(53, "53", "TCP")]));
        NodeLocalDns = new AddressEndpoint("node-local-dns", IPAddress.Parse(settings.NodeLocalDnsAddress));
        NodeLocalDnsOnClusterIp = new AddressEndpoint("node-local-dns on the kube-dns ClusterIP", IPAddress.Parse(settings.ClusterDnsAddress));
        Cluster.ExternalDns[settings.CfHostV1] = IPAddress.Parse("203.0.113.10");
        Cluster.ExternalDns[settings.CfHostV2] = IPAddress.Parse("203.0.113.11");
        Cluster.ExternalDns[UnregisteredHost] = IPAddress.Parse("198.51.100.7");
        Istio = IstioConfig.Read(documents);
        Mesh = new MeshReachability(Cluster, Istio, Install);
    }

    public IReadOnlyList<RenderedDocument> Documents { get; }

    public Settings Settings { get; }

    public MeshConfig Install { get; }

    public ClusterModel Cluster { get; } = new();

    public IstioConfig Istio { get; }

    public MeshReachability Mesh { get; }

    public Pod Istiod { get; }

    public Pod EgressGateway { get; }

    public Pod KubeDns { get; }

    /// <summary>NodeLocal DNSCache at its link-local address (settings.yaml's nodeLocalDnsAddress).</summary>
    public AddressEndpoint NodeLocalDns { get; }

    /// <summary>
    /// NodeLocal DNSCache answering on the kube-dns Service's ClusterIP (settings.yaml's clusterDnsAddress), the
    /// pods' nameserver: in iptables mode the query is not translated to a kube-dns pod, so NetworkPolicies see this address.
    /// </summary>
    public AddressEndpoint NodeLocalDnsOnClusterIp { get; }

    public Pod App(string name) => Cluster.Pod(Settings.AppNamespace, name);

    public IEnumerable<Pod> AppPods => Cluster.Pods.Where(p => p.Namespace == Settings.AppNamespace);

    public static ClusterUnderTest Place(IReadOnlyList<RenderedDocument> documents, Settings settings) => new(documents, settings);

    /// <summary>An env value of a rendered app, from its ConfigMap (what Aspirate's envFrom gives the container).</summary>
    public string Env(string app, string key)
    {
        var configMap = Assert.Single(Documents, d => d.Kind == "ConfigMap" && d.Name.StartsWith(app + "-env", StringComparison.Ordinal));
        return (string?)configMap.Json["data"]?[key] ?? throw new InvalidOperationException($"{app} has no {key}");
    }

    /// <summary>The IstioOperator of deploy/README.md's <c>istioctl install</c> step.</summary>
    public static System.Text.Json.Nodes.JsonObject InstallSnippet()
    {
        var readme = File.ReadAllText(Path.Combine(Repository.Deploy, "README.md"));
        var match = InstallHeredoc().Match(readme);
        Assert.True(match.Success, "deploy/README.md has no `istioctl install -y -f - <<'EOF'` snippet");
        return RenderedDocument.Parse(match.Groups["yaml"].Value).Json;
    }

    [GeneratedRegex(@"istioctl install -y -f - <<'EOF'\n(?<yaml>.*?)\nEOF\n", RegexOptions.Singleline | RegexOptions.CultureInvariant)]
    private static partial Regex InstallHeredoc();

    private static Dictionary<string, string> Labels(params (string Key, string Value)[] labels) => labels.ToDictionary(l => l.Key, l => l.Value);
}

/// <summary>The values of deploy/settings.yaml a render was made with.</summary>
internal sealed record Settings(
    string AppNamespace = "demo",
    string EgressGatewayNamespace = "istio-system",
    string IstioNamespace = "istio-system",
    string NodeLocalDnsAddress = "169.254.20.10",
    string ClusterDnsAddress = "10.96.0.10",
    string CfHostV1 = "hello-istio-v1.apps.example.com",
    string CfHostV2 = "hello-istio-v2.apps.example.com")
{
    public IReadOnlyDictionary<string, string> AsSettingsYaml() => new Dictionary<string, string>
    {
        ["appNamespace"] = AppNamespace,
        ["egressGatewayNamespace"] = EgressGatewayNamespace,
        ["istioNamespace"] = IstioNamespace,
        ["nodeLocalDnsAddress"] = NodeLocalDnsAddress,
        ["clusterDnsAddress"] = ClusterDnsAddress,
        ["cfHostV1"] = CfHostV1,
        ["cfHostV2"] = CfHostV2,
    };
}
