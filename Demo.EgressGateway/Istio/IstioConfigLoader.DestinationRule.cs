namespace Demo.EgressGateway.Istio;

// IstioConfigLoader, continued: DestinationRule resources (subsets, traffic policies, connection pools, outlier detection, client TLS, load balancer).
public static partial class IstioConfigLoader
{
    private static DestinationRule ParseDestinationRule(ResourceId id, YamlFields spec)
    {
        var host = spec.String("host", required: true) ?? "";
        var policy = spec.Map("trafficPolicy") is { } tp ? ParseTrafficPolicy(tp, allowPortLevel: true) : null;
        var subsets = new List<Subset>();
        foreach (var subset in spec.MapList("subsets"))
        {
            var name = subset.String("name", required: true) ?? "";
            var labels = subset.StringMap("labels").ToDictionary(kv => kv.Key, kv => kv.Value, StringComparer.Ordinal);
            var subsetPolicy = subset.Map("trafficPolicy") is { } stp ? ParseTrafficPolicy(stp, allowPortLevel: true) : null;
            subset.RejectUnknown();
            subsets.Add(new Subset(name, subsetPolicy) { Labels = labels });
        }
        var exportTo = spec.StringList("exportTo");
        spec.Refuse(RefusedFields.DestinationRuleWorkloadSelector);
        return new DestinationRule(id, host, policy, subsets) { ExportTo = exportTo };
    }

    private static TrafficPolicy ParseTrafficPolicy(YamlFields policy, bool allowPortLevel)
    {
        var connectionPool = policy.Map("connectionPool") is { } cp ? ParseConnectionPool(cp) : null;
        var outlier = policy.Map("outlierDetection") is { } od ? ParseOutlierDetection(od) : null;
        var tls = policy.Map("tls") is { } t ? ParseClientTls(t) : null;
        var portLevel = new List<PortTrafficPolicy>();
        if (allowPortLevel)
        {
            foreach (var setting in policy.MapList("portLevelSettings"))
            {
                var port = setting.Map("port", required: true) is { } p ? p.Int("number", 1, 65535, required: true) : null;
                var portLoadBalancer = ParseLoadBalancer(setting);
                var nested = new PortTrafficPolicy(
                    port ?? 0,
                    setting.Map("connectionPool") is { } pcp ? ParseConnectionPool(pcp) : null,
                    setting.Map("outlierDetection") is { } pod ? ParseOutlierDetection(pod) : null,
                    setting.Map("tls") is { } pt ? ParseClientTls(pt) : null)
                {
                    LoadBalancer = portLoadBalancer,
                };
                setting.RejectUnknown();
                portLevel.Add(nested);
            }
        }
        var loadBalancer = ParseLoadBalancer(policy);
        policy.Refuse(RefusedFields.Tunnel);
        policy.Refuse(RefusedFields.ProxyProtocol);
        policy.Refuse(RefusedFields.RetryBudget);
        policy.RejectUnknown();
        return new TrafficPolicy(connectionPool, outlier, tls, portLevel) { LoadBalancer = loadBalancer };
    }

    private static ConnectionPool ParseConnectionPool(YamlFields pool)
    {
        int? maxConnections = null;
        TimeSpan? connectTimeout = null;
        TimeSpan? maxConnectionDuration = null;
        TimeSpan? idleTimeout = null;
        int? maxRetries = null;
        int? maxRequestsPerConnection = null;
        var useClientProtocol = false;
        if (pool.Map("tcp") is { } tcp)
        {
            maxConnections = tcp.Int("maxConnections", 0, int.MaxValue);
            connectTimeout = tcp.Duration("connectTimeout", TimeSpan.FromMilliseconds(1));
            maxConnectionDuration = tcp.Duration("maxConnectionDuration", TimeSpan.FromMilliseconds(1));
            tcp.Refuse(RefusedFields.TcpIdleTimeout);
            tcp.Accept(InertFields.TcpKeepalive);
            tcp.RejectUnknown();
        }
        int? pending = null;
        int? maxRequests = null;
        if (pool.Map("http") is { } http)
        {
            pending = http.Int("http1MaxPendingRequests", 0, int.MaxValue);
            maxRequests = http.Int("http2MaxRequests", 0, int.MaxValue);
            maxRequestsPerConnection = http.Int("maxRequestsPerConnection", 0, int.MaxValue);
            if (maxRequestsPerConnection is > 1)
            {
                http.RefuseValue(RefusedFields.MaxRequestsPerConnection, maxRequestsPerConnection.Value.ToString(System.Globalization.CultureInfo.InvariantCulture));
            }
            maxRetries = http.Int("maxRetries", 0, int.MaxValue);
            // cluster_traffic_policy.go applyConnectionPool writes these into the HTTP/2 protocol options of an
            // HTTP/2 cluster (a port declared HTTP2 or GRPC), whose streams the local gateway does not count.
            http.Refuse(RefusedFields.MaxConcurrentStreams);
            http.Refuse(RefusedFields.Http2KeepAlive);
            idleTimeout = http.Duration("idleTimeout", TimeSpan.FromMilliseconds(1));
            if (http.String("h2UpgradePolicy") is "UPGRADE")
            {
                http.RefuseValue(RefusedFields.H2Upgrade, "UPGRADE");
            }
            useClientProtocol = http.Bool("useClientProtocol") ?? false;
            http.RejectUnknown();
        }
        pool.RejectUnknown();
        return new ConnectionPool(maxConnections, connectTimeout, pending, maxRequests)
        {
            MaxRetries = maxRetries,
            IdleTimeout = idleTimeout,
            MaxConnectionDuration = maxConnectionDuration,
            UseClientProtocol = useClientProtocol,
            MaxRequestsPerConnection = maxRequestsPerConnection,
        };
    }

    private static OutlierDetection ParseOutlierDetection(YamlFields od)
    {
        var result = new OutlierDetection(
            od.Int("consecutive5xxErrors", 0, int.MaxValue),
            od.Int("consecutiveGatewayErrors", 0, int.MaxValue),
            od.Duration("interval", TimeSpan.FromMilliseconds(1)),
            od.Duration("baseEjectionTime", TimeSpan.FromMilliseconds(1)),
            od.Int("maxEjectionPercent", 0, 100))
        {
            ConsecutiveErrors = od.Int("consecutiveErrors", 0, int.MaxValue),
            MinHealthPercent = od.Int("minHealthPercent", 0, 100),
            ConsecutiveLocalOriginFailures = od.Int("consecutiveLocalOriginFailures", 0, int.MaxValue),
            SplitExternalLocalOriginErrors = od.Bool("splitExternalLocalOriginErrors") ?? false,
        };
        if (result.ConsecutiveErrors is > 0)
        {
            od.Context.Warning(od.Join("consecutiveErrors"), "is deprecated and Istio no longer translates it (it has no effect); use consecutiveGatewayErrors or consecutive5xxErrors", od.Node);
        }
        od.RejectUnknown();
        return result;
    }

    private static ClientTls ParseClientTls(YamlFields tls)
    {
        var mode = tls.String("mode") ?? "DISABLE";
        if (mode is not ("DISABLE" or "SIMPLE" or "MUTUAL" or "ISTIO_MUTUAL"))
        {
            tls.Context.Error(tls.Join("mode"), $"must be DISABLE, SIMPLE, MUTUAL or ISTIO_MUTUAL, got '{mode}'", tls.Node);
        }
        var result = new ClientTls(
            mode,
            tls.String("sni"),
            tls.StringList("subjectAltNames"),
            tls.Bool("insecureSkipVerify") ?? false,
            tls.String("caCertificates"),
            tls.String("credentialName"),
            tls.Path)
        {
            ClientCertificate = tls.String("clientCertificate"),
            PrivateKey = tls.String("privateKey"),
        };
        tls.Refuse(RefusedFields.CaCrl);
        tls.RejectUnknown();
        // pkg/config/validation/agent ValidateTLS: a credentialName brings every certificate; otherwise MUTUAL needs
        // its own client certificate and key.
        void Fail(string message) => tls.Context.Error(tls.Path, message, tls.Node);
        if (mode is "SIMPLE" or "MUTUAL" && !string.IsNullOrEmpty(result.CredentialName))
        {
            if (!string.IsNullOrEmpty(result.ClientCertificate) || !string.IsNullOrEmpty(result.CaCertificates) || !string.IsNullOrEmpty(result.PrivateKey))
            {
                Fail("cannot specify client certificates or CA certificate or CA CRL If credentialName is set");
            }
        }
        else if (mode == "MUTUAL")
        {
            if (string.IsNullOrEmpty(result.ClientCertificate))
            {
                Fail("client certificate required for mutual tls");
            }
            if (string.IsNullOrEmpty(result.PrivateKey))
            {
                Fail("private key required for mutual tls");
            }
        }
        return result;
    }

    // loadBalancer.simple: the Envoy lb_policy istiod writes (cluster_traffic_policy.go applyLoadBalancer), which the
    // local load balancer executes over the cluster's endpoints; or consistentHash (RING_HASH, MAGLEV). Null when the
    // policy has no loadBalancer. PASSTHROUGH (an ORIGINAL_DST cluster), cookie hashing and locality settings are
    // refused.
    private static LoadBalancerSettings? ParseLoadBalancer(YamlFields policy)
    {
        if (policy.Map("loadBalancer") is not { } loadBalancer)
        {
            return null;
        }
        var simple = loadBalancer.String("simple");
        if (simple == "PASSTHROUGH")
        {
            loadBalancer.RefuseValue(RefusedFields.LoadBalancerPassthrough, simple);
        }
        else if (simple is not null and not ("UNSPECIFIED" or "LEAST_CONN" or "LEAST_REQUEST" or "ROUND_ROBIN" or "RANDOM"))
        {
            loadBalancer.Context.Error(loadBalancer.Join("simple"), $"must be UNSPECIFIED, LEAST_CONN, LEAST_REQUEST, ROUND_ROBIN, RANDOM or PASSTHROUGH, got '{simple}'", loadBalancer.Node);
        }
        var consistentHash = loadBalancer.Map("consistentHash") is { } hash ? ParseConsistentHash(hash) : null;
        if (simple is not null && consistentHash is not null)
        {
            // The API's oneof lbPolicy: simple or consistentHash.
            loadBalancer.Context.Error(loadBalancer.Path, "may set only one of simple and consistentHash", loadBalancer.Node);
        }
        loadBalancer.Refuse(RefusedFields.LocalityLbSetting);
        loadBalancer.Refuse(RefusedFields.WarmupDurationSecs);
        loadBalancer.Refuse(RefusedFields.Warmup);
        loadBalancer.RejectUnknown();
        return new LoadBalancerSettings(simple ?? "UNSPECIFIED", consistentHash);
    }

    // The API's oneof hashKey (one of them) and oneof hashAlgorithm (ringHash or maglev; the deprecated top-level
    // minimumRingSize is ringHash's).
    private static ConsistentHash ParseConsistentHash(YamlFields hash)
    {
        var header = hash.String("httpHeaderName");
        var query = hash.String("httpQueryParameterName");
        var sourceIp = hash.Bool("useSourceIp") ?? false;
        HttpCookie? cookie = null;
        if (hash.Map("httpCookie") is { } c)
        {
            var name = c.String("name");
            if (string.IsNullOrEmpty(name))
            {
                // validation.go validateLoadBalancer.
                c.Context.Error(c.Join("name"), "name required for HttpCookie", c.Node);
            }
            var attributes = c.MapList("attributes").Select(a =>
            {
                var attribute = new KeyValuePair<string, string?>(a.String("name", required: true) ?? "", a.String("value"));
                a.RejectUnknown();
                return attribute;
            }).ToList();
            cookie = new HttpCookie(name ?? "", c.String("path"), c.Duration("ttl", TimeSpan.Zero), attributes);
            c.RejectUnknown();
        }
        long? ringSize = hash.Int("minimumRingSize", 0, uint.MaxValue);
        if (hash.Map("ringHash") is { } ring)
        {
            ringSize = ring.Int("minimumRingSize", 0, uint.MaxValue) ?? ringSize;
            ring.RejectUnknown();
        }
        var maglev = false;
        if (hash.Map("maglev") is { } m)
        {
            maglev = true;
            m.Int("tableSize", 0, uint.MaxValue);
            m.RejectUnknown();
        }
        hash.RejectUnknown();
        var keys = new[] { header is not null, query is not null, sourceIp, cookie is not null }.Count(k => k);
        if (keys != 1)
        {
            hash.Context.Error(hash.Path, "must set one hash key: httpHeaderName, httpCookie, useSourceIp or httpQueryParameterName", hash.Node);
        }
        return new ConsistentHash(header, query, sourceIp, ringSize is 0 ? null : ringSize, maglev) { HttpCookie = cookie };
    }
}
