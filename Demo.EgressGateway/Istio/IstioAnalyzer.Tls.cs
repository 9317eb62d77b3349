namespace Demo.EgressGateway.Istio;

// IstioAnalyzer, continued: the DestinationRules' client TLS checks and the TLS settings Istio applies per port.
public static partial class IstioAnalyzer
{
    private static void CheckClientTls(DestinationRule dr, ClientTls tls, string field, MeshEnvironment environment,
        Action<IstioResource, string?, string> warn, Action<IstioResource, string?, string> error)
    {
        if (tls.Mode is not ("SIMPLE" or "MUTUAL"))
        {
            return;
        }
        if (tls.Sni is { } sni && !HostName.Matches(dr.Host, sni) && !dr.Host.StartsWith("*.", StringComparison.Ordinal))
        {
            warn(dr, $"{field}.sni", $"is '{sni}' but the rule is for '{dr.Host}': the external server would select the wrong certificate or app");
        }
        // cluster_tls.go: a credentialName is read by the egress gateway, or — in a rule with a workloadSelector — by the
        // selected workloads' sidecars, from their own namespace (sds.go filterAuthorizedResources).
        var sidecar = dr.WorkloadSelector is not null;
        var (proxy, secretNamespace) = sidecar ? ("sidecar", dr.Id.Namespace ?? environment.WorkloadNamespace) : ("egress gateway", environment.GatewayNamespace);
        var key = sidecar ? $"{secretNamespace}/{tls.CredentialName}" : tls.CredentialName;
        if (tls.CredentialName is { } credential && environment.Credentials is not null && environment.CaForCredential(credential, secretNamespace) is null)
        {
            warn(dr, $"{field}.credentialName",
                $"'{credential}' names a Kubernetes Secret that no EgressGateway:Credentials entry stands for ({credential}-cacert or {credential}): as in a cluster without that Secret, the {proxy}'s connections fail (503 UF, 'TLS error: Secret is not supplied by SDS'); set EgressGateway:Credentials:{key} to a PEM file with the CA that signs the server (the Secret's ca.crt)");
        }
        if (tls is { Mode: "MUTUAL", CredentialName: { } mutual } && environment.Credentials is not null && environment.KeyCertForCredential(mutual, secretNamespace) is null)
        {
            warn(dr, $"{field}.credentialName",
                $"'{mutual}' is MUTUAL, and no EgressGateway:Credentials:{key} folder holds a client certificate and its key (cert and key, or tls.crt and tls.key): as in a cluster whose Secret has none (or a key that is not the certificate's), the connections fail (503 UF, 'TLS error: Secret is not supplied by SDS')");
        }
        if (sidecar && tls is { Mode: "MUTUAL", CredentialName: { } listed } && environment.Credentials is not null && !environment.WorkloadCanListSecrets)
        {
            warn(dr, $"{field}.credentialName",
                $"'{listed}' is MUTUAL at the sidecar, whose service account may not list the Secrets of its namespace (EgressGateway:WorkloadCanListSecrets is false): istiod sends it the CA but not the client certificate, so its connections fail (503 UF, 'TLS error: Secret is not supplied by SDS'); bind it a Role that lists secrets and set EgressGateway:WorkloadCanListSecrets");
        }
        if (tls is { Mode: "MUTUAL", CredentialName: null } && !MeshEnvironment.IsUsableKeyPair(tls.ClientCertificate, tls.PrivateKey))
        {
            warn(dr, $"{field}.clientCertificate",
                $"'{tls.ClientCertificate}' and '{tls.PrivateKey}' are not a certificate and its private key on this machine (missing, unreadable or not a pair): the proxy's certificate is not ready and its connections fail (503 UF, 'TLS error: Secret is not supplied by SDS')");
        }
        if (tls.CaCertificates is { Length: > 0 } ca && !tls.InsecureSkipVerify && !File.Exists(ca))
        {
            warn(dr, $"{field}.caCertificates",
                $"'{ca}' does not exist on this machine: the local gateway verifies the server against EgressGateway:TrustedCaPath (or the system store) instead");
        }
        // cluster_tls.go setAutoSniAndAutoSanValidation: auto_san_validation (the certificate must be for the Host) comes
        // only with auto_sni, i.e. without sni.
        if (!string.IsNullOrEmpty(tls.Sni) && tls.SubjectAltNames.Count == 0 && !tls.InsecureSkipVerify)
        {
            warn(dr, $"{field}.subjectAltNames",
                "is empty: with sni set istiod adds no auto_san_validation, so unless the ServiceEntry lists subjectAltNames Envoy checks the certificate chain but not that the certificate is for this host; list the host name here");
        }
    }

    // util.go GetPortLevelTrafficPolicy: "port level policies do not inherit" — a top-level field a port-level entry
    // leaves out does not apply to that port at all.
    private static void CheckPortLevelShadowing(DestinationRule dr, TrafficPolicy? policy, string field, Action<IstioResource, string?, string> warn)
    {
        if (policy is null)
        {
            return;
        }
        for (var i = 0; i < policy.PortLevelSettings.Count; i++)
        {
            var setting = policy.PortLevelSettings[i];
            var lost = new List<string>();
            if (policy.ConnectionPool is not null && setting.ConnectionPool is null)
            {
                lost.Add("connectionPool");
            }
            if (policy.OutlierDetection is not null && setting.OutlierDetection is null)
            {
                lost.Add("outlierDetection");
            }
            if (policy.Tls is not null && setting.Tls is null)
            {
                lost.Add("tls");
            }
            foreach (var name in lost)
            {
                warn(dr, $"{field}.{name}",
                    $"does not apply to port {setting.Port}: {field}.portLevelSettings[{i}] replaces the whole policy for that port (port-level settings do not inherit), so {name} is the default there — repeat it in the port-level entry");
            }
        }
    }

    private static IEnumerable<(ClientTls Tls, string Field)> AllTls(DestinationRule dr)
    {
        foreach (var item in PolicyTls(dr.TrafficPolicy, "spec.trafficPolicy"))
        {
            yield return item;
        }
        for (var i = 0; i < dr.Subsets.Count; i++)
        {
            foreach (var item in SubsetTls(dr.Subsets[i], $"spec.subsets[{i}].trafficPolicy"))
            {
                yield return item;
            }
        }
    }

    private static IEnumerable<(ClientTls, string)> SubsetTls(Subset subset, string field) => PolicyTls(subset.TrafficPolicy, field);

    private static IEnumerable<(ClientTls, string)> PolicyTls(TrafficPolicy? policy, string field)
    {
        if (policy is null)
        {
            yield break;
        }
        if (policy.Tls is { } tls)
        {
            yield return (tls, $"{field}.tls");
        }
        for (var i = 0; i < policy.PortLevelSettings.Count; i++)
        {
            if (policy.PortLevelSettings[i].Tls is { } portTls)
            {
                yield return (portTls, $"{field}.portLevelSettings[{i}].tls");
            }
        }
    }

    /// <summary>The TLS settings Istio applies for <paramref name="port"/>: a port-level entry replaces the whole policy.</summary>
    public static ClientTls? EffectiveTls(TrafficPolicy? policy, int port) => TrafficPolicies.ForPort(policy, port, out _)?.Tls;
}
