namespace Demo.EgressGateway.Istio;

// IstioConfigLoader, continued: the Sidecar resource — its workload selector, egress hosts and outbound traffic policy.
public static partial class IstioConfigLoader
{
    private static Sidecar ParseSidecar(ResourceId id, YamlFields spec)
    {
        var selector = new Dictionary<string, string>(StringComparer.Ordinal);
        if (spec.Map("workloadSelector") is { } workloadSelector)
        {
            foreach (var (key, value) in workloadSelector.StringMap("labels"))
            {
                selector[key] = value;
            }
            workloadSelector.RejectUnknown();
            // validation.go ValidateSidecar warns, and selects every workload of the namespace.
            if (selector.Count == 0)
            {
                workloadSelector.Context.Warning(workloadSelector.Path, "workload selector specified without labels, will be applied to all services in namespace", workloadSelector.Node);
            }
        }
        var hosts = new List<string>();
        foreach (var egress in spec.MapList("egress"))
        {
            foreach (var host in egress.StringList("hosts", required: true))
            {
                // validation.go validateSidecarEgressHosts → validateNamespaceSlashWildcardHostname: namespace/dnsName,
                // the namespace '*', '.', '~' or a name, the dnsName '*', '*.suffix' or a name.
                if (host.Split('/') is not [{ Length: > 0 } ns, { Length: > 0 } name] || (name.Contains('*') && name != "*" && !name.StartsWith("*.", StringComparison.Ordinal))
                    || (ns.Contains('*') && ns != "*"))
                {
                    egress.Context.Error(egress.Join("hosts"), $"'{host}' must be namespace/dnsName (namespace: *, ., ~ or a name; dnsName: *, *.suffix or a name)", egress.Node);
                }
                hosts.Add(host);
            }
            egress.Refuse(RefusedFields.SidecarEgressPort);
            egress.Refuse(RefusedFields.SidecarEgressBind);
            egress.Refuse(RefusedFields.SidecarEgressCaptureMode);
            egress.RejectUnknown();
        }
        string? mode = null;
        if (spec.Map("outboundTrafficPolicy") is { } policy)
        {
            mode = policy.String("mode");
            if (mode is not null and not (MeshEnvironment.RegistryOnly or MeshEnvironment.AllowAny))
            {
                policy.Context.Error(policy.Join("mode"), $"must be REGISTRY_ONLY or ALLOW_ANY, got '{mode}'", policy.Node);
            }
            policy.Refuse(RefusedFields.SidecarEgressProxy);
            policy.RejectUnknown();
        }
        spec.Refuse(RefusedFields.SidecarIngress);
        spec.Refuse(RefusedFields.SidecarInboundConnectionPool);
        return new Sidecar(id, selector, hosts, mode);
    }
}
