namespace Demo.EgressGateway.Istio;

// IstioConfigLoader, continued: ServiceEntry and Gateway resources (ports, servers, TLS settings).
public static partial class IstioConfigLoader
{
    private static ServiceEntry ParseServiceEntry(ResourceId id, YamlFields spec)
    {
        var hosts = spec.StringList("hosts", required: true);
        var ports = spec.MapList("ports").Select(ParsePort).ToList();
        spec.Accept(InertFields.ServiceEntryLocation);
        var location = spec.String("location");
        if (location is not null and not ("MESH_EXTERNAL" or "MESH_INTERNAL"))
        {
            spec.Context.Error(spec.Join("location"), $"must be MESH_EXTERNAL or MESH_INTERNAL, got '{location}'", spec.Node);
        }
        var resolution = spec.String("resolution");
        if (resolution is not null and not ("NONE" or "STATIC" or "DNS" or "DNS_ROUND_ROBIN"))
        {
            spec.Context.Error(spec.Join("resolution"), $"must be NONE, STATIC, DNS or DNS_ROUND_ROBIN, got '{resolution}'", spec.Node);
        }
        var exportTo = spec.StringList("exportTo");
        var endpoints = new List<WorkloadEntry>();
        foreach (var endpoint in spec.MapList("endpoints"))
        {
            var address = endpoint.String("address", required: true) ?? "";
            var endpointPorts = endpoint.StringMap("ports").Select(kv => (kv.Key, Port: int.TryParse(kv.Value, out var n) && n is > 0 and < 65536 ? n : 0)).ToList();
            foreach (var (name, number) in endpointPorts.Where(p => p.Port == 0))
            {
                endpoint.Context.Error(endpoint.Join("ports"), $"port '{name}' must be a number between 1 and 65535", endpoint.Node);
            }
            var labels = endpoint.StringMap("labels").ToDictionary(kv => kv.Key, kv => kv.Value, StringComparer.Ordinal);
            endpoint.Refuse(RefusedFields.EndpointWeight);
            endpoint.Refuse(RefusedFields.EndpointNetwork);
            endpoint.Refuse(RefusedFields.EndpointLocality);
            endpoint.Refuse(RefusedFields.EndpointServiceAccount);
            endpoint.RejectUnknown();
            endpoints.Add(new WorkloadEntry(address, endpointPorts.Where(p => p.Port > 0).ToDictionary(p => p.Key, p => p.Port, StringComparer.Ordinal), labels));
        }
        spec.Refuse(RefusedFields.ServiceEntryWorkloadSelector);
        var addresses = spec.StringList("addresses");
        foreach (var address in addresses.Where(a => Envoy.CidrRange.Parse(a) is null))
        {
            // validation.go ValidateServiceEntry: ValidateIPSubnet / ValidateIPAddress.
            spec.Context.Error(spec.Join("addresses"), $"invalid address {address}", spec.NodeOf("addresses"));
        }
        var subjectAltNames = spec.StringList("subjectAltNames");
        return new ServiceEntry(id, hosts, ports, exportTo, resolution ?? "NONE", endpoints)
        {
            SubjectAltNames = subjectAltNames,
            Location = location ?? "MESH_EXTERNAL",
            Addresses = addresses,
        };
    }

    private static ServicePort ParsePort(YamlFields port)
    {
        var number = port.Int("number", 1, 65535, required: true) ?? 0;
        var name = port.String("name");
        var protocol = port.String("protocol");
        if (protocol is not null and not ("HTTP" or "HTTPS" or "GRPC" or "HTTP2" or "MONGO" or "TCP" or "TLS"))
        {
            port.Context.Error(port.Join("protocol"), $"must be one of HTTP, HTTPS, GRPC, HTTP2, MONGO, TCP, TLS, got '{protocol}'", port.Node);
        }
        var targetPort = port.Int("targetPort", 1, 65535);
        port.RejectUnknown();
        return new ServicePort(number, name, protocol) { TargetPort = targetPort };
    }

    private static Gateway ParseGateway(ResourceId id, YamlFields spec)
    {
        var selector = spec.StringMap("selector").ToDictionary(kv => kv.Key, kv => kv.Value, StringComparer.Ordinal);
        var servers = new List<GatewayServer>();
        foreach (var server in spec.MapList("servers", required: true))
        {
            var port = server.Map("port", required: true) is { } p ? ParsePort(p) : new ServicePort(0, null, null);
            var hosts = server.StringList("hosts", required: true);
            string? tlsMode = null;
            ServerCredentials? credentials = null;
            IReadOnlyList<string> subjectAltNames = [];
            if (server.Map("tls") is { } tls)
            {
                tlsMode = tls.String("mode");
                if (tlsMode is not null and not ("PASSTHROUGH" or "SIMPLE" or "MUTUAL" or "AUTO_PASSTHROUGH" or "ISTIO_MUTUAL" or "OPTIONAL_MUTUAL"))
                {
                    tls.Context.Error(tls.Join("mode"), $"must be PASSTHROUGH, SIMPLE, MUTUAL, AUTO_PASSTHROUGH, ISTIO_MUTUAL or OPTIONAL_MUTUAL, got '{tlsMode}'", tls.Node);
                }
                if (tlsMode is "AUTO_PASSTHROUGH")
                {
                    tls.RefuseValue(RefusedFields.GatewayPassthrough, tlsMode);
                }
                if (tls.Bool("httpsRedirect") is true)
                {
                    tls.RefuseValue(RefusedFields.HttpsRedirect, "true");
                }
                credentials = ParseServerCredentials(tls, tlsMode);
                // Handshake parameters and client-certificate checks would act on that wire. listener.go
                // BuildListenerTLSContext writes TLS versions and cipher suites (applyServerTLSSettings) only for
                // SIMPLE/MUTUAL/OPTIONAL_MUTUAL servers, and the SPKI/hash pins only in their validation context; for
                // ISTIO_MUTUAL it writes none of them, so there they change nothing and are accepted.
                RefusedField[] handshake = [RefusedFields.ServerMinProtocolVersion, RefusedFields.ServerMaxProtocolVersion,
                    RefusedFields.ServerCipherSuites, RefusedFields.ServerVerifyCertificateSpki, RefusedFields.ServerVerifyCertificateHash];
                foreach (var field in handshake)
                {
                    if (tlsMode == "ISTIO_MUTUAL")
                    {
                        tls.Accept(InertFields.IstioMutualHandshake.Single(f => f.Key == field.Key));
                    }
                    else
                    {
                        tls.Refuse(field);
                    }
                }
                // listener.go BuildListenerTLSContext → ApplyToCommonTLSContext: for a server that validates its client
                // (ISTIO_MUTUAL, MUTUAL, OPTIONAL_MUTUAL) the SANs become the validation context's exact
                // match_subject_alt_names; a SIMPLE server has no validation context, so there they do nothing.
                if (tlsMode == "SIMPLE")
                {
                    tls.Accept(InertFields.SimpleServerSubjectAltNames);
                }
                else
                {
                    subjectAltNames = tls.StringList("subjectAltNames");
                }
                tls.Refuse(RefusedFields.ServerCaCrl);
                tls.RejectUnknown();
            }
            server.Accept(InertFields.ServerBind);
            server.Accept(InertFields.ServerDefaultEndpoint);
            server.Accept(InertFields.ServerName);
            server.RejectUnknown();
            servers.Add(new GatewayServer(port, hosts, tlsMode) { SubjectAltNames = subjectAltNames, Credentials = credentials });
        }
        return new Gateway(id, selector, servers);
    }

    // The server's own certificate and client CA, with istiod's webhook rules (validation.go validateTLSOptions):
    // ISTIO_MUTUAL takes none (the workload certificate); SIMPLE, MUTUAL and OPTIONAL_MUTUAL take a credentialName or
    // serverCertificate/privateKey (and for the mutual modes caCertificates); PASSTHROUGH ignores them (a warning).
    private static ServerCredentials? ParseServerCredentials(YamlFields tls, string? tlsMode)
    {
        var credentials = new ServerCredentials(tls.String("credentialName"), tls.String("serverCertificate"), tls.String("privateKey"),
            tls.String("caCertificates"));
        tls.Refuse(RefusedFields.ServerCredentialNames);
        tls.Refuse(RefusedFields.ServerTlsCertificates);
        var given = new[] { ("serverCertificate", credentials.ServerCertificate, "server certificate"), ("privateKey", credentials.PrivateKey, "private key"),
            ("caCertificates", credentials.CaCertificates, "CA bundle"), ("credentialName", credentials.CredentialName, "credentialName") }
            .Where(f => !string.IsNullOrEmpty(f.Item2)).ToList();
        switch (tlsMode)
        {
            case "ISTIO_MUTUAL":
                foreach (var (field, _, what) in given)
                {
                    tls.Context.Error(tls.Join(field), $"ISTIO_MUTUAL TLS cannot have associated {what}", tls.NodeOf(field));
                }
                return null;
            case "PASSTHROUGH" or "AUTO_PASSTHROUGH":
                if (given.Count > 0)
                {
                    tls.Context.Warning(tls.Join(given[0].Item1), $"{tlsMode} mode does not use certificates, they will be ignored", tls.NodeOf(given[0].Item1));
                }
                return null;
            case "SIMPLE" or "MUTUAL" or "OPTIONAL_MUTUAL":
                var prefix = tlsMode == "SIMPLE" ? "SIMPLE TLS" : "MUTUAL TLS";
                if (!string.IsNullOrEmpty(credentials.CredentialName))
                {
                    if (!string.IsNullOrEmpty(credentials.ServerCertificate) && !string.IsNullOrEmpty(credentials.PrivateKey))
                    {
                        tls.Context.Error(tls.Join("credentialName"),
                            "only one of credential_name, credential_names, server_certificate/private_key, tls_certificates should be specified", tls.NodeOf("credentialName"));
                    }
                    return credentials;
                }
                if (tlsMode != "SIMPLE" && string.IsNullOrEmpty(credentials.CaCertificates))
                {
                    tls.Context.Error(tls.Join("caCertificates"), $"{prefix} requires a client CA bundle", tls.Node);
                }
                if (string.IsNullOrEmpty(credentials.ServerCertificate))
                {
                    tls.Context.Error(tls.Join("serverCertificate"), $"{prefix} requires a server certificate", tls.Node);
                }
                if (string.IsNullOrEmpty(credentials.PrivateKey))
                {
                    tls.Context.Error(tls.Join("privateKey"), $"{prefix} requires a private key", tls.Node);
                }
                return credentials;
            default:
                return null;
        }
    }
}
