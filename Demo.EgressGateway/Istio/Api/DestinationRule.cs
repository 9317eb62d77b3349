namespace Demo.EgressGateway.Istio.Api;

/// <summary>networking.istio.io DestinationRule <c>spec</c> (destination_rule.proto <c>DestinationRule</c>).</summary>
internal sealed record DestinationRule
{
    public string? Host { get; set; }
    public TrafficPolicy? TrafficPolicy { get; set; }
    public IReadOnlyList<Subset>? Subsets { get; set; }
    public IReadOnlyList<string>? ExportTo { get; set; }
    public TypeWorkloadSelector? WorkloadSelector { get; set; }
}

/// <summary>
/// istio.type.v1beta1 <c>WorkloadSelector</c> (type/v1beta1/selector.proto), as DestinationRule has it: the labels a
/// workload must carry, <c>matchLabels</c> (the Sidecar's own <see cref="WorkloadSelector"/> calls them <c>labels</c>).
/// </summary>
internal sealed record TypeWorkloadSelector
{
    public IReadOnlyDictionary<string, string>? MatchLabels { get; set; }
}

/// <summary>destination_rule.proto <c>Subset</c>.</summary>
internal sealed record Subset
{
    public string? Name { get; set; }
    public IReadOnlyDictionary<string, string>? Labels { get; set; }
    public TrafficPolicy? TrafficPolicy { get; set; }
}

/// <summary>
/// destination_rule.proto <c>TrafficPolicy</c>, and <c>TrafficPolicy.PortTrafficPolicy</c> (which has
/// <see cref="Port"/> and no <see cref="PortLevelSettings"/>).
/// </summary>
internal sealed record TrafficPolicy
{
    public PortSelector? Port { get; set; }
    public LoadBalancerSettings? LoadBalancer { get; set; }
    public ConnectionPoolSettings? ConnectionPool { get; set; }
    public OutlierDetection? OutlierDetection { get; set; }
    public ClientTLSSettings? Tls { get; set; }
    public IReadOnlyList<TrafficPolicy>? PortLevelSettings { get; set; }
}

/// <summary>destination_rule.proto <c>ConnectionPoolSettings</c>.</summary>
internal sealed record ConnectionPoolSettings
{
    public TCPSettings? Tcp { get; set; }
    public HTTPSettings? Http { get; set; }
}

/// <summary>destination_rule.proto <c>ConnectionPoolSettings.TCPSettings</c>.</summary>
internal sealed record TCPSettings
{
    public int? MaxConnections { get; set; }
    public string? ConnectTimeout { get; set; }
    public string? MaxConnectionDuration { get; set; }
}

/// <summary>destination_rule.proto <c>ConnectionPoolSettings.HTTPSettings</c>.</summary>
internal sealed record HTTPSettings
{
    public int? Http1MaxPendingRequests { get; set; }
    public int? Http2MaxRequests { get; set; }
    public int? MaxRequestsPerConnection { get; set; }
    public int? MaxRetries { get; set; }
    public string? IdleTimeout { get; set; }
    public string? H2UpgradePolicy { get; set; }
    public bool? UseClientProtocol { get; set; }
}

/// <summary>destination_rule.proto <c>OutlierDetection</c>.</summary>
internal sealed record OutlierDetection
{
    public int? ConsecutiveErrors { get; set; }
    public uint? ConsecutiveLocalOriginFailures { get; set; }
    public uint? ConsecutiveGatewayErrors { get; set; }
    public uint? Consecutive5xxErrors { get; set; }
    public string? Interval { get; set; }
    public string? BaseEjectionTime { get; set; }
    public int? MaxEjectionPercent { get; set; }
    public int? MinHealthPercent { get; set; }
    public bool? SplitExternalLocalOriginErrors { get; set; }
}

/// <summary>destination_rule.proto <c>ClientTLSSettings</c>.</summary>
internal sealed record ClientTLSSettings
{
    public string? Mode { get; set; }
    public string? ClientCertificate { get; set; }
    public string? PrivateKey { get; set; }
    public string? CaCertificates { get; set; }
    public string? CredentialName { get; set; }
    public IReadOnlyList<string>? SubjectAltNames { get; set; }
    public string? Sni { get; set; }
    public bool? InsecureSkipVerify { get; set; }
}

/// <summary>destination_rule.proto <c>LoadBalancerSettings</c>.</summary>
internal sealed record LoadBalancerSettings
{
    public string? Simple { get; set; }
    public ConsistentHashLB? ConsistentHash { get; set; }
}

/// <summary>destination_rule.proto <c>LoadBalancerSettings.ConsistentHashLB</c>.</summary>
internal sealed record ConsistentHashLB
{
    public string? HttpHeaderName { get; set; }
    public HTTPCookie? HttpCookie { get; set; }
    public bool? UseSourceIp { get; set; }
    public string? HttpQueryParameterName { get; set; }
    public RingHash? RingHash { get; set; }
    public MagLev? Maglev { get; set; }
    public ulong? MinimumRingSize { get; set; }
}

/// <summary>destination_rule.proto <c>ConsistentHashLB.HTTPCookie</c> (with its <c>Attribute</c>s).</summary>
internal sealed record HTTPCookie
{
    public string? Name { get; set; }
    public string? Path { get; set; }
    public string? Ttl { get; set; }
    public IReadOnlyList<HTTPCookieAttribute>? Attributes { get; set; }
}

/// <summary>destination_rule.proto <c>ConsistentHashLB.HTTPCookie.Attribute</c>.</summary>
internal sealed record HTTPCookieAttribute
{
    public string? Name { get; set; }
    public string? Value { get; set; }
}

/// <summary>destination_rule.proto <c>ConsistentHashLB.RingHash</c>.</summary>
internal sealed record RingHash
{
    public ulong? MinimumRingSize { get; set; }
}

/// <summary>destination_rule.proto <c>ConsistentHashLB.MagLev</c>.</summary>
internal sealed record MagLev
{
    public ulong? TableSize { get; set; }
}
