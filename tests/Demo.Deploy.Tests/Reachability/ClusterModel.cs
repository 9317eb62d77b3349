using System.Net;
using k8s;
using k8s.Models;

namespace Demo.Deploy.Tests.Reachability;

/// <summary>A container port of a pod: number, protocol (TCP/UDP/SCTP) and optional name (for named NetworkPolicy ports).</summary>
internal sealed record ContainerPort(int Number, string Protocol = "TCP", string? Name = null);

/// <summary>Where a connection goes: a pod, or an address no pod selector can match (host network, outside the cluster).</summary>
internal abstract record Endpoint(string Name, IPAddress Address);

/// <summary>
/// One pod of a workload. <paramref name="InMesh"/>: it has an Istio proxy (injected sidecar, or it is a gateway), so
/// it has the SPIFFE identity <c>cluster.local/ns/&lt;namespace&gt;/sa/&lt;service account&gt;</c> and speaks Istio mTLS.
/// <paramref name="ProxyMetadata"/>: the proxy's environment from <c>proxy.istio.io/config</c> (DNS capture).
/// </summary>
internal sealed record Pod(
    string Name,
    string Namespace,
    IReadOnlyDictionary<string, string> Labels,
    string ServiceAccount,
    IPAddress Address,
    IReadOnlyList<ContainerPort> Ports,
    bool InMesh,
    bool IsGateway = false,
    IReadOnlyDictionary<string, string>? ProxyMetadata = null) : Endpoint(Name, Address)
{
    public string Principal => $"cluster.local/ns/{Namespace}/sa/{ServiceAccount}";

    public override string ToString() => $"{Namespace}/{Name}";
}

/// <summary>An address outside any pod: a host-network daemon (NodeLocal DNSCache) or a host outside the cluster.</summary>
internal sealed record AddressEndpoint(string Name, IPAddress Address) : Endpoint(Name, Address)
{
    public override string ToString() => $"{Name} ({Address})";
}

/// <summary>A Kubernetes Service port: the port clients dial and the pod port it translates to (number or container port name).</summary>
internal sealed record ServicePort(int Port, string TargetPort, string Protocol = "TCP", string? Name = null, string? AppProtocol = null);

/// <summary>A Kubernetes Service: <c>&lt;name&gt;.&lt;namespace&gt;.svc.cluster.local</c>, its selector and ports.</summary>
internal sealed record KubeService(string Name, string Namespace, IReadOnlyDictionary<string, string> Selector, IReadOnlyList<ServicePort> Ports)
{
    public string Hostname => $"{Name}.{Namespace}.svc.cluster.local";
}

/// <summary>
/// The cluster a render is applied to: the rendered Namespaces, Deployments (one pod each), Services and
/// NetworkPolicies, read with KubernetesClient's models, plus what the cluster already runs (istiod, the egress
/// gateway, DNS) and the addresses public DNS gives external hosts.
/// </summary>
internal sealed class ClusterModel
{
    private int _nextPodAddress = 10;

    public Dictionary<string, IReadOnlyDictionary<string, string>> Namespaces { get; } = [];

    public List<Pod> Pods { get; } = [];

    public List<KubeService> Services { get; } = [];

    public List<V1NetworkPolicy> NetworkPolicies { get; } = [];

    /// <summary>Public DNS: external hostname to address.</summary>
    public Dictionary<string, IPAddress> ExternalDns { get; } = new(StringComparer.OrdinalIgnoreCase);

    public Pod Pod(string @namespace, string name) =>
        Pods.SingleOrDefault(p => p.Namespace == @namespace && p.Name == name) ?? throw new InvalidOperationException($"no pod {@namespace}/{name}");

    /// <summary>Adds a namespace with the label Kubernetes sets on every namespace (kubernetes.io/metadata.name).</summary>
    public void AddNamespace(string name, IReadOnlyDictionary<string, string>? labels = null)
    {
        var all = new Dictionary<string, string>(labels ?? new Dictionary<string, string>()) { ["kubernetes.io/metadata.name"] = name };
        Namespaces[name] = all;
    }

    public Pod AddPod(string @namespace, string name, IReadOnlyDictionary<string, string> labels, IReadOnlyList<ContainerPort> ports,
        string serviceAccount = "default", bool? inMesh = null, bool isGateway = false, IReadOnlyDictionary<string, string>? proxyMetadata = null)
    {
        if (!Namespaces.ContainsKey(@namespace))
        {
            AddNamespace(@namespace);
        }
        var pod = new Pod(name, @namespace, labels, serviceAccount, IPAddress.Parse($"10.244.0.{_nextPodAddress++}"), ports,
            inMesh ?? (isGateway || Injected(@namespace, labels)), isGateway, proxyMetadata);
        Pods.Add(pod);
        return pod;
    }

    /// <summary>Sidecar injection as Istio's webhook decides it: namespace label istio-injection=enabled, unless the pod opts out.</summary>
    private bool Injected(string @namespace, IReadOnlyDictionary<string, string> labels) =>
        Namespaces[@namespace].TryGetValue("istio-injection", out var injection) && injection == "enabled"
        && !(labels.TryGetValue("sidecar.istio.io/inject", out var inject) && inject == "false");

    /// <summary>The rendered Kubernetes objects: Namespaces, then one pod per Deployment, Services and NetworkPolicies.</summary>
    public void AddRendered(IEnumerable<RenderedDocument> documents)
    {
        var list = documents.ToList();
        foreach (var document in list.Where(d => d.Kind == "Namespace"))
        {
            var ns = KubernetesYaml.Deserialize<V1Namespace>(document.Yaml);
            AddNamespace(ns.Metadata.Name, ns.Metadata.Labels?.ToDictionary() ?? []);
        }
        foreach (var document in list.Where(d => d.Kind == "Deployment"))
        {
            var deployment = KubernetesYaml.Deserialize<V1Deployment>(document.Yaml);
            var template = deployment.Spec.Template;
            var ports = template.Spec.Containers.SelectMany(c => c.Ports ?? [])
                .Select(p => new ContainerPort(p.ContainerPort, p.Protocol ?? "TCP", p.Name)).ToList();
            IReadOnlyDictionary<string, string>? proxyMetadata = null;
            if (template.Metadata.Annotations?.TryGetValue("proxy.istio.io/config", out var proxyConfig) == true)
            {
                var parsed = RenderedDocument.Parse($"spec:\n{string.Concat(proxyConfig.Split('\n').Select(l => "  " + l + "\n"))}").Json["spec"]!;
                proxyMetadata = parsed["proxyMetadata"]?.AsObject().ToDictionary(kv => kv.Key, kv => kv.Value?.ToString() ?? "");
            }
            AddPod(document.Namespace!, deployment.Metadata.Name, template.Metadata.Labels.ToDictionary(), ports,
                template.Spec.ServiceAccountName ?? "default", proxyMetadata: proxyMetadata);
        }
        foreach (var document in list.Where(d => d.Kind == "Service"))
        {
            var service = KubernetesYaml.Deserialize<V1Service>(document.Yaml);
            Services.Add(new KubeService(service.Metadata.Name, document.Namespace!, service.Spec.Selector?.ToDictionary() ?? [],
                service.Spec.Ports.Select(p => new ServicePort(p.Port, p.TargetPort?.Value ?? p.Port.ToString(System.Globalization.CultureInfo.InvariantCulture),
                    p.Protocol ?? "TCP", p.Name, p.AppProtocol)).ToList()));
        }
        foreach (var document in list.Where(d => d.Kind == "NetworkPolicy"))
        {
            NetworkPolicies.Add(KubernetesYaml.Deserialize<V1NetworkPolicy>(document.Yaml));
        }
    }

    /// <summary>The pods a Service selects (in its namespace) and the pod port its <paramref name="port"/> translates to.</summary>
    public IEnumerable<(Pod Pod, ContainerPort Port)> Endpoints(KubeService service, int port)
    {
        var servicePort = service.Ports.SingleOrDefault(p => p.Port == port);
        if (servicePort is null || service.Selector.Count == 0)
        {
            yield break;
        }
        foreach (var pod in Pods.Where(p => p.Namespace == service.Namespace && service.Selector.All(s => p.Labels.TryGetValue(s.Key, out var v) && v == s.Value)))
        {
            var target = int.TryParse(servicePort.TargetPort, out var number)
                ? pod.Ports.FirstOrDefault(p => p.Number == number && p.Protocol == servicePort.Protocol) ?? new ContainerPort(number, servicePort.Protocol)
                : pod.Ports.FirstOrDefault(p => p.Name == servicePort.TargetPort);
            if (target is not null)
            {
                yield return (pod, target);
            }
        }
    }
}
