namespace Demo.EgressGateway.Istio.Validation;

using Demo.EgressGateway.Istio.Api;

// IstioValidation, continued: DestinationRule rules (validation.go ValidateDestinationRule and what it calls).
internal static partial class IstioValidation
{
    /// <summary>
    /// validation.go <c>ValidateDestinationRule</c>: the traffic policy and each subset's, and the workloadSelector
    /// (<c>validateExportTo</c>'s rules for a rule with one, <c>validateWorkloadSelector</c>'s warning).
    /// </summary>
    public static void ValidateDestinationRule(DestinationRule rule, string? ruleNamespace, Findings v)
    {
        if (rule.WorkloadSelector is { } selector)
        {
            ValidateSelectorExportTo(rule.ExportTo ?? [], ruleNamespace, v);
            if (selector.MatchLabels is not { Count: > 0 })
            {
                // validateWorkloadSelector: a warning; the rule then applies to every workload of its namespace.
                v.Warning("spec.workloadSelector", "workload selector specified without labels");
            }
        }
        if (rule.TrafficPolicy is { } policy)
        {
            ValidateTrafficPolicy(policy, "spec.trafficPolicy", v);
        }
        foreach (var (subset, i) in (rule.Subsets ?? []).Select((s, i) => (s, i)))
        {
            if (subset.TrafficPolicy is { } subsetPolicy)
            {
                ValidateTrafficPolicy(subsetPolicy, $"spec.subsets[{i}].trafficPolicy", v);
            }
        }
    }

    /// <summary>
    /// validation.go <c>validateTrafficPolicy</c> and <c>validatePortTrafficPolicies</c> (a port-level policy is checked
    /// the same way, within its own path).
    /// </summary>
    public static void ValidateTrafficPolicy(TrafficPolicy policy, string path, Findings v)
    {
        if (policy.OutlierDetection is { } outlier)
        {
            ValidateOutlierDetection(outlier, $"{path}.outlierDetection", v);
        }
        if (policy.ConnectionPool is { } pool)
        {
            ValidateConnectionPool(pool, $"{path}.connectionPool", v);
        }
        if (policy.LoadBalancer?.ConsistentHash is { } hash)
        {
            ValidateLoadBalancer(hash, $"{path}.loadBalancer.consistentHash", v);
        }
        if (policy.Tls is { } tls)
        {
            ValidateTLS(tls, $"{path}.tls", v);
        }
        foreach (var (portPolicy, i) in (policy.PortLevelSettings ?? []).Select((p, i) => (p, i)))
        {
            if (portPolicy.Port is null)
            {
                // Istio: "portTrafficPolicy must have valid port".
                v.Error($"{path}.portLevelSettings[{i}].port", "is required");
            }
            // Istio checks no more; a port outside 1..65535 would match no port, so it is refused as agent.ValidatePort would.
            ValidatePort(portPolicy.Port?.Number, $"{path}.portLevelSettings[{i}].port.number", v);
            ValidateTrafficPolicy(portPolicy, $"{path}.portLevelSettings[{i}]", v);
        }
    }

    /// <summary>
    /// validation.go <c>validateOutlierDetection</c>: <c>ValidatePercent</c> for maxEjectionPercent and
    /// minHealthPercent, and the deprecated consecutiveErrors, which Istio warns about (worded here with what it does:
    /// nothing, istiod no longer translates it).
    /// </summary>
    public static void ValidateOutlierDetection(OutlierDetection outlier, string path, Findings v)
    {
        ValidatePercent(outlier.MaxEjectionPercent, $"{path}.maxEjectionPercent", v);
        ValidatePercent(outlier.MinHealthPercent, $"{path}.minHealthPercent", v);
        if (outlier.ConsecutiveErrors is > 0)
        {
            v.Warning($"{path}.consecutiveErrors",
                "is deprecated and Istio no longer translates it (it has no effect); use consecutiveGatewayErrors or consecutive5xxErrors");
        }
    }

    /// <summary>validation.go <c>ValidatePercent</c>.</summary>
    public static void ValidatePercent(int? value, string path, Findings v)
    {
        if (value is < 0 or > 100)
        {
            v.Error(path, $"percentage {value} is not in range 0..100");
        }
    }

    /// <summary>validation.go <c>validateConnectionPool</c>: counts are non-negative.</summary>
    public static void ValidateConnectionPool(ConnectionPoolSettings pool, string path, Findings v)
    {
        void NonNegative(int? value, string field, string what)
        {
            if (value is < 0)
            {
                v.Error($"{path}.{field}", $"{what} must be non-negative");
            }
        }
        NonNegative(pool.Http?.Http1MaxPendingRequests, "http.http1MaxPendingRequests", "http1 max pending requests");
        NonNegative(pool.Http?.Http2MaxRequests, "http.http2MaxRequests", "http2 max requests");
        NonNegative(pool.Http?.MaxRequestsPerConnection, "http.maxRequestsPerConnection", "max requests per connection");
        NonNegative(pool.Http?.MaxRetries, "http.maxRetries", "max retries");
        NonNegative(pool.Tcp?.MaxConnections, "tcp.maxConnections", "max connections");
    }

    /// <summary>
    /// validation.go <c>validateLoadBalancer</c>: an httpCookie has a name; its ttl is a duration (the CRD has no rule
    /// for it; Istio's conversion to the protobuf Duration refuses what does not parse).
    /// </summary>
    public static void ValidateLoadBalancer(ConsistentHashLB hash, string path, Findings v)
    {
        if (hash.HttpCookie is { Name: null or "" })
        {
            v.Error($"{path}.httpCookie.name", "name required for HttpCookie");
        }
        if (hash.HttpCookie?.Ttl is { } ttl && !Durations.TryParse(ttl, out _))
        {
            v.Error($"{path}.httpCookie.ttl", $"must be a duration such as 5s, 250ms or 1m30s, got '{ttl}'");
        }
    }

    /// <summary>
    /// agent/validation.go <c>ValidateTLS</c>: a credentialName brings every certificate; otherwise MUTUAL needs its own
    /// client certificate and key.
    /// </summary>
    public static void ValidateTLS(ClientTLSSettings tls, string path, Findings v)
    {
        if (tls.Mode is "SIMPLE" or "MUTUAL" && !string.IsNullOrEmpty(tls.CredentialName))
        {
            if (!string.IsNullOrEmpty(tls.ClientCertificate) || !string.IsNullOrEmpty(tls.CaCertificates) || !string.IsNullOrEmpty(tls.PrivateKey))
            {
                v.Error(path, "cannot specify client certificates or CA certificate or CA CRL If credentialName is set");
            }
            return;
        }
        if (tls.Mode == "MUTUAL")
        {
            if (string.IsNullOrEmpty(tls.ClientCertificate))
            {
                v.Error(path, "client certificate required for mutual tls");
            }
            if (string.IsNullOrEmpty(tls.PrivateKey))
            {
                v.Error(path, "private key required for mutual tls");
            }
        }
    }

    // validation.go validateExportTo, isDestinationRuleWithSelector: "." stands for the rule's namespace (a rule without
    // metadata.namespace: only "." names it); the exportTo must be that namespace alone.
    private static void ValidateSelectorExportTo(IReadOnlyList<string> exportTo, string? ruleNamespace, Findings v)
    {
        var own = ruleNamespace ?? ".";
        var entries = exportTo.Select(e => e == "." ? own : e).ToHashSet(StringComparer.Ordinal);
        if (entries.Count == 0)
        {
            return;
        }
        if (!entries.Contains(own))
        {
            v.Error("spec.exportTo", "destination rule with workload selector cannot have exportTo beyond current namespace");
        }
        else if (entries.Count > 1)
        {
            v.Error("spec.exportTo", "destination rule with workload selector cannot have multiple entries in exportTo");
        }
    }
}
