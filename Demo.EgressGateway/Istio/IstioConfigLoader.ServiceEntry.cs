using Demo.EgressGateway.Istio.Validation;
using Api = Demo.EgressGateway.Istio.Api;

namespace Demo.EgressGateway.Istio;

// IstioConfigLoader, continued: ServiceEntry, Gateway and Sidecar from their API records, after Istio's webhook rules.
public static partial class IstioConfigLoader
{
    private static ServiceEntry ServiceEntryOf(ResourceId id, Api.ServiceEntry spec, Findings findings)
    {
        IstioValidation.ValidateServiceEntry(spec, findings);
        var endpoints = (spec.Endpoints ?? []).Select(e => new WorkloadEntry(
            e.Address ?? "",
            (e.Ports ?? new Dictionary<string, uint>()).ToDictionary(p => p.Key, p => Int(p.Value)!.Value, StringComparer.Ordinal),
            Labels(e.Labels))).ToList();
        return new ServiceEntry(id, spec.Hosts ?? [], [.. (spec.Ports ?? []).Select(PortOf)], spec.ExportTo ?? [], spec.Resolution ?? "NONE", endpoints)
        {
            SubjectAltNames = spec.SubjectAltNames ?? [],
            Location = spec.Location ?? "MESH_EXTERNAL",
            Addresses = spec.Addresses ?? [],
        };
    }

    private static ServicePort PortOf(Api.ServicePort port) =>
        new(Int(port.Number) ?? 0, port.Name, port.Protocol) { TargetPort = Int(port.TargetPort) };

    private static Gateway GatewayOf(ResourceId id, Api.Gateway spec, Findings findings)
    {
        IstioValidation.ValidateGateway(spec, findings);
        var servers = (spec.Servers ?? []).Select(server =>
        {
            var tls = server.Tls;
            // listener.go BuildListenerTLSContext → ApplyToCommonTLSContext: for a server that validates its client
            // (ISTIO_MUTUAL, MUTUAL, OPTIONAL_MUTUAL) the SANs become the validation context's exact
            // match_subject_alt_names; a SIMPLE server has none (InertFields.SimpleServerSubjectAltNames).
            var subjectAltNames = tls?.Mode == "SIMPLE" ? [] : tls?.SubjectAltNames ?? [];
            var credentials = tls is { Mode: "SIMPLE" or "MUTUAL" or "OPTIONAL_MUTUAL" }
                ? new ServerCredentials(tls.CredentialName, tls.ServerCertificate, tls.PrivateKey, tls.CaCertificates)
                : null;
            return new GatewayServer(server.Port is { } port ? PortOf(port) : new ServicePort(0, null, null), server.Hosts ?? [], tls?.Mode)
            {
                SubjectAltNames = subjectAltNames,
                Credentials = credentials,
            };
        }).ToList();
        return new Gateway(id, Labels(spec.Selector), servers);
    }

    private static Sidecar SidecarOf(ResourceId id, Api.Sidecar spec, Findings findings)
    {
        IstioValidation.ValidateSidecar(spec, findings);
        return new Sidecar(id, Labels(spec.WorkloadSelector?.Labels), [.. (spec.Egress ?? []).SelectMany(e => e.Hosts ?? [])],
            spec.OutboundTrafficPolicy?.Mode);
    }
}
