using Demo.EgressGateway.Istio;

namespace Demo.EgressGateway.Envoy;

// istiod's SidecarScope (pilot/pkg/model/sidecar.go, push_context.go getSidecarScope): which Sidecar resource shapes
// the calling workload's sidecar — what it imports and its outbound traffic policy.
public static partial class IstioTranslator
{
    private sealed partial class ProxyTranslation
    {
        private SidecarScope? _sidecarScope;

        private SidecarScope Scope => _sidecarScope ??= SidecarScope.Select(config.OfKind<Sidecar>().ToList(), NamespaceOf, environment);
    }

    /// <summary>
    /// The Sidecar resource that applies to the calling workload, as istiod picks it: in the workload's namespace one
    /// whose <c>workloadSelector</c> matches its labels, else one without a selector; else the root namespace's one
    /// without a selector; else none (import everything, the mesh's outbound traffic policy).
    /// </summary>
    /// <param name="Resource">The chosen Sidecar, or null.</param>
    /// <param name="WorkloadNamespace">The namespace <c>.</c> stands for in its egress hosts: the workload's (also for a root namespace Sidecar).</param>
    /// <param name="OutboundTrafficPolicy">REGISTRY_ONLY or ALLOW_ANY: the Sidecar's, else the mesh's.</param>
    private sealed record SidecarScope(Sidecar? Resource, string WorkloadNamespace, string OutboundTrafficPolicy)
    {
        public static SidecarScope Select(IReadOnlyList<Sidecar> sidecars, Func<IstioResource, string> namespaceOf, MeshEnvironment environment)
        {
            var workload = environment.WorkloadNamespace;
            var own = sidecars.Where(s => namespaceOf(s) == workload).ToList();
            var chosen = own.FirstOrDefault(s => s.WorkloadSelector.Count > 0
                    && s.WorkloadSelector.All(l => environment.WorkloadLabels.TryGetValue(l.Key, out var value) && value == l.Value))
                ?? own.FirstOrDefault(s => s.WorkloadSelector.Count == 0)
                ?? sidecars.FirstOrDefault(s => namespaceOf(s) == RootNamespace && s.WorkloadSelector.Count == 0);
            return new SidecarScope(chosen, workload, chosen?.OutboundTrafficPolicyMode ?? environment.OutboundTrafficPolicy);
        }

        /// <summary>
        /// Whether the Sidecar's egress hosts (<c>namespace/dnsName</c>) import <paramref name="host"/> of
        /// <paramref name="hostNamespace"/>: namespace <c>*</c> any, <c>.</c> the workload's, <c>~</c> none; dnsName
        /// <c>*</c>, <c>*.suffix</c> or the name. No Sidecar, or one without egress: <c>*/*</c>.
        /// </summary>
        public bool Imports(string hostNamespace, string host) =>
            Resource is not { EgressHosts.Count: > 0 } sidecar || sidecar.EgressHosts.Any(entry =>
                entry.Split('/') is [var ns, var name] && ns != "~"
                && (ns == "*" || (ns == "." ? WorkloadNamespace : ns) == hostNamespace)
                && HostName.Matches(name, host));
    }
}
