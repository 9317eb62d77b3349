namespace Demo.EgressGateway.Istio.Validation;

using Demo.EgressGateway.Istio.Api;

/// <summary>
/// Istio's webhook rules (istio/istio pkg/config/validation: validation.go, virtualservice.go and agent/validation.go)
/// that the local gateway applies, one rule per method, each named after and citing the function it follows. They
/// run on a document the CRD schema has accepted, as istiod's webhook runs after the API server's schema check.
/// Messages are Istio's, unless a method says why it words a rule otherwise.
/// </summary>
internal static partial class IstioValidation
{
    /// <summary>validation.go <c>ValidateServiceEntry</c>: its addresses (agent <c>ValidateIPSubnet</c>).</summary>
    public static void ValidateServiceEntry(ServiceEntry serviceEntry, Findings v)
    {
        foreach (var address in (serviceEntry.Addresses ?? []).Where(a => Envoy.CidrRange.Parse(a) is null))
        {
            // agent.ValidateIPSubnet / ValidateIPAddress.
            v.Error("spec.addresses", $"invalid address {address}");
        }
    }

    /// <summary>validation.go <c>ValidateGateway</c>: servers, each with <see cref="ValidateServer"/>.</summary>
    public static void ValidateGateway(Gateway gateway, Findings v)
    {
        if (gateway.Servers is not { Count: > 0 })
        {
            // Istio: "gateway must have at least one server".
            v.Error("spec.servers", "is required");
        }
        // validation.go validateGateway: "Ensure unique port names" across the Gateway's servers.
        var portNames = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (server, i) in (gateway.Servers ?? []).Select((s, i) => (s, i)))
        {
            if (server.Port is { } port && !portNames.Add(port.Name ?? ""))
            {
                v.Error($"spec.servers[{i}].port.name", $"port names in servers must be unique: duplicate name {port.Name}");
            }
            ValidateServer(server, $"spec.servers[{i}]", v);
        }
    }

    /// <summary>validation.go <c>validateServer</c>: hosts, the port (<c>validateServerPort</c>), and <see cref="ValidateTLSOptions"/>.</summary>
    public static void ValidateServer(Server server, string path, Findings v)
    {
        if (server.Hosts is { Count: 0 })
        {
            v.Error($"{path}.hosts", "must not be empty");
        }
        ValidatePort(server.Port?.Number, $"{path}.port.number", v);
        if (server.Tls is { } tls)
        {
            ValidateTLSOptions(tls, $"{path}.tls", v);
        }
    }

    /// <summary>
    /// validation.go <c>validateTLSOptions</c>: ISTIO_MUTUAL takes no credentials (the workload certificate); SIMPLE,
    /// MUTUAL and OPTIONAL_MUTUAL take a credentialName or serverCertificate/privateKey (and, mutual, caCertificates);
    /// PASSTHROUGH and AUTO_PASSTHROUGH ignore them (a warning).
    /// </summary>
    public static void ValidateTLSOptions(ServerTLSSettings tls, string path, Findings v)
    {
        var given = new[]
        {
            ("serverCertificate", tls.ServerCertificate, "server certificate"), ("privateKey", tls.PrivateKey, "private key"),
            ("caCertificates", tls.CaCertificates, "CA bundle"), ("credentialName", tls.CredentialName, "credentialName"),
        }.Where(f => !string.IsNullOrEmpty(f.Item2)).ToList();
        switch (tls.Mode)
        {
            case "ISTIO_MUTUAL":
                foreach (var (field, _, what) in given)
                {
                    v.Error($"{path}.{field}", $"ISTIO_MUTUAL TLS cannot have associated {what}");
                }
                break;
            case "PASSTHROUGH" or "AUTO_PASSTHROUGH":
                if (given.Count > 0)
                {
                    v.Warning($"{path}.{given[0].Item1}", $"{tls.Mode} mode does not use certificates, they will be ignored");
                }
                break;
            case "SIMPLE" or "MUTUAL" or "OPTIONAL_MUTUAL":
                var prefix = tls.Mode == "SIMPLE" ? "SIMPLE TLS" : "MUTUAL TLS";
                if (!string.IsNullOrEmpty(tls.CredentialName))
                {
                    if (!string.IsNullOrEmpty(tls.ServerCertificate) && !string.IsNullOrEmpty(tls.PrivateKey))
                    {
                        v.Error($"{path}.credentialName",
                            "only one of credential_name, credential_names, server_certificate/private_key, tls_certificates should be specified");
                    }
                    break;
                }
                if (tls.Mode != "SIMPLE" && string.IsNullOrEmpty(tls.CaCertificates))
                {
                    v.Error($"{path}.caCertificates", $"{prefix} requires a client CA bundle");
                }
                if (string.IsNullOrEmpty(tls.ServerCertificate))
                {
                    v.Error($"{path}.serverCertificate", $"{prefix} requires a server certificate");
                }
                if (string.IsNullOrEmpty(tls.PrivateKey))
                {
                    v.Error($"{path}.privateKey", $"{prefix} requires a private key");
                }
                break;
        }
    }

    /// <summary>validation.go <c>ValidateSidecar</c>: the workload selector and the egress hosts.</summary>
    public static void ValidateSidecar(Sidecar sidecar, Findings v)
    {
        if (sidecar.WorkloadSelector is { } selector && selector.Labels is not { Count: > 0 })
        {
            // ValidateAlphaWorkloadSelector's warning: the Sidecar then applies to every workload of the namespace.
            v.Warning("spec.workloadSelector", "workload selector specified without labels, will be applied to all services in namespace");
        }
        foreach (var (egress, i) in (sidecar.Egress ?? []).Select((e, i) => (e, i)))
        {
            if (egress.Hosts is { Count: 0 })
            {
                v.Error($"spec.egress[{i}].hosts", "must not be empty");
            }
            foreach (var host in egress.Hosts ?? [])
            {
                ValidateNamespaceSlashWildcardHostname(host, $"spec.egress[{i}].hosts", v);
            }
        }
    }

    /// <summary>
    /// agent/validation.go <c>ValidateNamespaceSlashWildcardHostname</c> (through validation.go
    /// <c>validateSidecarEgressHosts</c>): <c>namespace/dnsName</c>, the namespace <c>*</c>, <c>.</c>, <c>~</c> or a
    /// name, the dnsName <c>*</c>, <c>*.suffix</c> or a name.
    /// </summary>
    public static void ValidateNamespaceSlashWildcardHostname(string host, string path, Findings v)
    {
        if (host.Split('/') is not [{ Length: > 0 } ns, { Length: > 0 } name]
            || (name.Contains('*', StringComparison.Ordinal) && name != "*" && !name.StartsWith("*.", StringComparison.Ordinal))
            || (ns.Contains('*', StringComparison.Ordinal) && ns != "*"))
        {
            v.Error(path, $"'{host}' must be namespace/dnsName (namespace: *, ., ~ or a name; dnsName: *, *.suffix or a name)");
        }
    }
}
