using System.Net;
using System.Net.Sockets;
using k8s.Models;

namespace Demo.Deploy.Tests.Reachability;

/// <summary>
/// Whether NetworkPolicies allow a connection, as the Kubernetes docs (concepts/services-networking/network-policies)
/// define it: a pod is isolated for egress (ingress) when a policy of its namespace selects it and lists Egress
/// (Ingress) in <c>policyTypes</c> — which defaults to Ingress, plus Egress when the policy has an <c>egress</c>
/// section; an isolated pod may only open (accept) connections some rule of those policies allows; policies add up.
/// A rule with no <c>to</c>/<c>from</c> matches every peer and with no <c>ports</c> every port. A peer is an
/// <c>ipBlock</c> (CIDR minus <c>except</c>, matched against the address), a <c>podSelector</c> (pods of the policy's
/// namespace), a <c>namespaceSelector</c> (all pods of the selected namespaces) or both (selected pods of selected
/// namespaces). A port is a number or a container port name of the destination, with <c>endPort</c> for a range and
/// protocol TCP when not given. Both ends must allow: the source's egress and the destination pod's ingress.
/// Ports are pod ports: policies see the connection after a Service's port is translated.
/// </summary>
internal sealed class NetworkPolicyEvaluator(ClusterModel cluster)
{
    /// <summary>Allowed, or the reason it is not.</summary>
    public Decision Allows(Pod from, Endpoint to, ContainerPort port)
    {
        var egress = Isolating(from, "Egress").ToList();
        if (egress.Count > 0 && !egress.Any(p => (p.Spec.Egress ?? []).Any(rule => RuleMatches(p, rule.To, rule.Ports, to, port))))
        {
            return Decision.Deny("NetworkPolicy",
                $"no egress rule of {string.Join(", ", egress.Select(p => p.Metadata.Name))} (namespace {from.Namespace}) lets {from} reach {to} on {port.Protocol}/{port.Number}");
        }
        if (to is Pod pod)
        {
            var ingress = Isolating(pod, "Ingress").ToList();
            if (ingress.Count > 0 && !ingress.Any(p => (p.Spec.Ingress ?? []).Any(rule => RuleMatches(p, rule.FromProperty, rule.Ports, from, port))))
            {
                return Decision.Deny("NetworkPolicy",
                    $"no ingress rule of {string.Join(", ", ingress.Select(p => p.Metadata.Name))} (namespace {pod.Namespace}) lets {from} reach {pod} on {port.Protocol}/{port.Number}");
            }
        }
        return Decision.Allow($"NetworkPolicy: {from} -> {to} {port.Protocol}/{port.Number}" + (egress.Count == 0 ? " (source not isolated for egress)" : ""));
    }

    /// <summary>The policies that isolate <paramref name="pod"/> in <paramref name="direction"/> (Ingress or Egress).</summary>
    public IEnumerable<V1NetworkPolicy> Isolating(Pod pod, string direction) =>
        cluster.NetworkPolicies.Where(p => (p.Metadata.NamespaceProperty ?? "default") == pod.Namespace
            && LabelSelectors.Matches(p.Spec.PodSelector, pod.Labels)
            && PolicyTypes(p).Contains(direction));

    public static IReadOnlyList<string> PolicyTypes(V1NetworkPolicy policy) =>
        policy.Spec.PolicyTypes is { Count: > 0 } types
            ? [.. types]
            : policy.Spec.Egress is not null ? ["Ingress", "Egress"] : ["Ingress"];

    /// <summary>A rule's peers and ports against the other end of the connection (the destination port either way).</summary>
    private bool RuleMatches(V1NetworkPolicy policy, IList<V1NetworkPolicyPeer>? peers, IList<V1NetworkPolicyPort>? ports, Endpoint other, ContainerPort port) =>
        (peers is null || peers.Count == 0 || peers.Any(peer => PeerMatches(policy, peer, other)))
        && (ports is null || ports.Count == 0 || ports.Any(p => PortMatches(p, port)));

    private bool PeerMatches(V1NetworkPolicy policy, V1NetworkPolicyPeer peer, Endpoint other)
    {
        if (peer.IpBlock is { } block)
        {
            return InCidr(other.Address, block.Cidr) && !(block.Except ?? []).Any(e => InCidr(other.Address, e));
        }
        if (other is not Pod pod)
        {
            // Selectors select pods; a host-network or external address is matched by ipBlock only.
            return false;
        }
        var namespaceMatches = peer.NamespaceSelector is { } namespaceSelector
            ? LabelSelectors.Matches(namespaceSelector, cluster.Namespaces[pod.Namespace])
            : pod.Namespace == (policy.Metadata.NamespaceProperty ?? "default");
        var podMatches = peer.PodSelector is not { } podSelector || LabelSelectors.Matches(podSelector, pod.Labels);
        return namespaceMatches && podMatches;
    }

    private static bool PortMatches(V1NetworkPolicyPort rule, ContainerPort port)
    {
        if ((rule.Protocol ?? "TCP") != port.Protocol)
        {
            return false;
        }
        if (rule.Port is null)
        {
            return true;
        }
        if (int.TryParse(rule.Port.Value, out var number))
        {
            return rule.EndPort is { } end ? port.Number >= number && port.Number <= end : port.Number == number;
        }
        return port.Name == rule.Port.Value;
    }

    public static bool InCidr(IPAddress address, string cidr)
    {
        var slash = cidr.IndexOf('/', StringComparison.Ordinal);
        var network = IPAddress.Parse(cidr[..slash]);
        var length = int.Parse(cidr[(slash + 1)..], System.Globalization.CultureInfo.InvariantCulture);
        if (address.AddressFamily != network.AddressFamily)
        {
            return false;
        }
        var a = address.GetAddressBytes();
        var n = network.GetAddressBytes();
        for (var bit = 0; bit < length; bit++)
        {
            var mask = (byte)(0x80 >> (bit % 8));
            if ((a[bit / 8] & mask) != (n[bit / 8] & mask))
            {
                return false;
            }
        }
        return address.AddressFamily is AddressFamily.InterNetwork or AddressFamily.InterNetworkV6;
    }
}

/// <summary>One layer's verdict on a flow: allowed, or denied by <paramref name="Layer"/> for <paramref name="Reason"/>.</summary>
internal sealed record Decision(bool Allowed, string Layer, string Reason)
{
    public static Decision Allow(string reason) => new(true, "", reason);

    public static Decision Deny(string layer, string reason) => new(false, layer, reason);
}
