using Demo.EgressGateway.Istio.Validation;
using Api = Demo.EgressGateway.Istio.Api;

namespace Demo.EgressGateway.Istio;

// IstioConfigLoader, continued: DestinationRule from its API record (subsets, traffic policies, connection pools,
// outlier detection, client TLS, load balancer), after Istio's webhook rules.
public static partial class IstioConfigLoader
{
    private static DestinationRule DestinationRuleOf(ResourceId id, Api.DestinationRule spec, Findings findings)
    {
        IstioValidation.ValidateDestinationRule(spec, id.Namespace, findings);
        var subsets = (spec.Subsets ?? []).Select((subset, i) =>
            new Subset(subset.Name ?? "", TrafficPolicyOf(subset.TrafficPolicy, $"spec.subsets[{i}].trafficPolicy")) { Labels = Labels(subset.Labels) });
        return new DestinationRule(id, spec.Host ?? "", TrafficPolicyOf(spec.TrafficPolicy, "spec.trafficPolicy"), [.. subsets])
        {
            ExportTo = spec.ExportTo ?? [],
            WorkloadSelector = spec.WorkloadSelector is { } selector ? Labels(selector.MatchLabels) : null,
        };
    }

    private static TrafficPolicy? TrafficPolicyOf(Api.TrafficPolicy? policy, string path)
    {
        if (policy is null)
        {
            return null;
        }
        var portLevel = (policy.PortLevelSettings ?? []).Select((setting, i) => new PortTrafficPolicy(
            Int(setting.Port?.Number) ?? 0,
            ConnectionPoolOf(setting.ConnectionPool),
            OutlierDetectionOf(setting.OutlierDetection),
            ClientTlsOf(setting.Tls, $"{path}.portLevelSettings[{i}].tls"))
        {
            LoadBalancer = LoadBalancerOf(setting.LoadBalancer),
        });
        return new TrafficPolicy(ConnectionPoolOf(policy.ConnectionPool), OutlierDetectionOf(policy.OutlierDetection),
            ClientTlsOf(policy.Tls, $"{path}.tls"), [.. portLevel])
        {
            LoadBalancer = LoadBalancerOf(policy.LoadBalancer),
        };
    }

    private static ConnectionPool? ConnectionPoolOf(Api.ConnectionPoolSettings? pool) => pool is null ? null
        : new ConnectionPool(pool.Tcp?.MaxConnections, Duration(pool.Tcp?.ConnectTimeout), pool.Http?.Http1MaxPendingRequests, pool.Http?.Http2MaxRequests)
        {
            MaxRetries = pool.Http?.MaxRetries,
            IdleTimeout = Duration(pool.Http?.IdleTimeout),
            MaxConnectionDuration = Duration(pool.Tcp?.MaxConnectionDuration),
            UseClientProtocol = pool.Http?.UseClientProtocol ?? false,
            MaxRequestsPerConnection = pool.Http?.MaxRequestsPerConnection,
        };

    private static OutlierDetection? OutlierDetectionOf(Api.OutlierDetection? od) => od is null ? null
        : new OutlierDetection(Int(od.Consecutive5xxErrors), Int(od.ConsecutiveGatewayErrors), Duration(od.Interval), Duration(od.BaseEjectionTime),
            od.MaxEjectionPercent)
        {
            ConsecutiveErrors = od.ConsecutiveErrors,
            MinHealthPercent = od.MinHealthPercent,
            ConsecutiveLocalOriginFailures = Int(od.ConsecutiveLocalOriginFailures),
            SplitExternalLocalOriginErrors = od.SplitExternalLocalOriginErrors ?? false,
        };

    private static ClientTls? ClientTlsOf(Api.ClientTLSSettings? tls, string path) => tls is null ? null
        : new ClientTls(tls.Mode ?? "DISABLE", tls.Sni, tls.SubjectAltNames ?? [], tls.InsecureSkipVerify ?? false, tls.CaCertificates, tls.CredentialName, path)
        {
            ClientCertificate = tls.ClientCertificate,
            PrivateKey = tls.PrivateKey,
        };

    // loadBalancer.simple: the Envoy lb_policy istiod writes (cluster_traffic_policy.go applyLoadBalancer), which the
    // local load balancer executes over the cluster's endpoints; or consistentHash (RING_HASH, MAGLEV): one hash key,
    // ringHash or maglev (the deprecated top-level minimumRingSize is ringHash's).
    private static LoadBalancerSettings? LoadBalancerOf(Api.LoadBalancerSettings? loadBalancer)
    {
        if (loadBalancer is null)
        {
            return null;
        }
        ConsistentHash? consistentHash = null;
        if (loadBalancer.ConsistentHash is { } hash)
        {
            var cookie = hash.HttpCookie is { } c
                ? new HttpCookie(c.Name ?? "", c.Path, Duration(c.Ttl), [.. (c.Attributes ?? []).Select(a => new KeyValuePair<string, string?>(a.Name ?? "", a.Value))])
                : null;
            var ringSize = hash.RingHash?.MinimumRingSize ?? hash.MinimumRingSize;
            consistentHash = new ConsistentHash(hash.HttpHeaderName, hash.HttpQueryParameterName, hash.UseSourceIp ?? false,
                ringSize is null or 0 ? null : (long)Math.Min(ringSize.Value, long.MaxValue), hash.Maglev is not null)
            {
                HttpCookie = cookie,
            };
        }
        return new LoadBalancerSettings(loadBalancer.Simple ?? "UNSPECIFIED", consistentHash);
    }
}
