using Demo.EgressGateway.Istio;
using IstioDestinationRule = Demo.EgressGateway.Istio.DestinationRule;
using IstioOutlierDetection = Demo.EgressGateway.Istio.OutlierDetection;

namespace Demo.EgressGateway.Envoy;

// istiod cluster_builder.go, cluster_traffic_policy.go, cluster_tls.go: services × ports × subsets → Envoy clusters.
public static partial class IstioTranslator
{
    private sealed partial class ProxyTranslation
    {
        // ---- clusters: cluster.go buildOutboundClusters, cluster_builder.go, cluster_traffic_policy.go ----

        private void AddClusters(Service service, ServicePort port)
        {
            if (service.Host.Contains('*') && !IsTls(port))
            {
                // A wildcard ServiceEntry host's HTTP port has no cluster of its own in this model (Istio: ORIGINAL_DST/DFP).
                // Its TLS port's is ORIGINAL_DST with resolution NONE — the TCP proxy goes where the app dialled
                // (wildcard-egress-hosts task) — and, with DNS, a STRICT_DNS cluster of the unresolvable name
                // (serviceentry conversion.go: the host is its own endpoint): no host, UH.
                return;
            }
            var rule = FindDestinationRule(service);
            AddCluster(service, port, null, rule);
            foreach (var subset in rule?.Subsets ?? [])
            {
                AddCluster(service, port, subset, rule);
            }
        }

        private void AddCluster(Service service, ServicePort port, Subset? subset, IstioDestinationRule? rule)
        {
            var name = ClusterName(port.Number, subset?.Name, service.Host);
            var policy = TrafficPolicies.Effective(rule?.TrafficPolicy, subset?.TrafficPolicy, port.Number);
            var tls = policy?.Tls;
            var pool = policy?.ConnectionPool;
            var outlier = policy?.OutlierDetection;

            if (tls is { CredentialName: not null, Mode: "SIMPLE" or "MUTUAL" } && !isGateway && rule?.WorkloadSelector is null)
            {
                // cluster_tls.go buildUpstreamClusterTLSContext: a sidecar uses a credentialName only from a
                // DestinationRule with a workloadSelector (isDrWithSelector); from any other it gets no TLS context at
                // all, so it speaks plain text to the upstream.
                tls = null;
            }
            var type = service.IsEgressGatewayService ? "EDS" : service.Resolution switch
            {
                "DNS" => "STRICT_DNS",
                "DNS_ROUND_ROBIN" => "LOGICAL_DNS",
                "STATIC" => "STATIC",
                _ => "ORIGINAL_DST",
            };
            var endpoints = new ClusterLoadAssignment(name, [new LocalityLbEndpoints(Endpoints(service, port, subset))]);
            if (type == "EDS")
            {
                _endpointConfigs.Add(endpoints);
            }
            var hash = policy?.LoadBalancer?.ConsistentHash;
            var upstreamTls = BuildUpstreamTlsContext(tls, name, service);
            _clusters[name] = new Cluster(
                name,
                type,
                pool?.ConnectTimeout ?? DefaultConnectTimeout,
                // cluster_traffic_policy.go applyLoadBalancer: consistentHash is MAGLEV with maglev, else RING_HASH.
                hash is not null && type != "ORIGINAL_DST" ? (hash.Maglev ? "MAGLEV" : "RING_HASH") : TranslateLbPolicy(type, policy?.LoadBalancer?.Simple),
                DefaultCircuitBreakers(pool),
                ClusterMetadata(service.Host, subset?.Name, rule is null ? null : ConfigSource(rule)))
            {
                RingHashLbConfig = hash is { Maglev: false, MinimumRingSize: { } ringSize } ? new RingHashLbConfig(ringSize) : null,
                OutlierDetection = TranslateOutlierDetection(outlier),
                CommonLbConfig = outlier is null ? null : new CommonLbConfig(new Percent(outlier.MinHealthPercent ?? 0)),
                EdsClusterConfig = type == "EDS" ? new EdsClusterConfig(new EdsConfig(new AdsConfigSource(), TimeSpan.Zero, "V3"), name) : null,
                LoadAssignment = type == "EDS" ? null : endpoints,
                TransportSocket = upstreamTls is null ? null : new(TransportSocket<UpstreamTlsContext>.Tls, upstreamTls),
                TypedExtensionProtocolOptions = BuildHttpProtocolOptions(pool, port, tls),
            };
        }

        // No auto mTLS to the egress gateway: istiod's auto mTLS (cluster_builder.go buildAutoMtlsSettings) picks
        // ISTIO_MUTUAL only for endpoints labelled security.istio.io/tlsMode: istio, which the sidecar injector sets
        // and the gateway's pods (helm chart, gateway-injection-template.yaml) do not carry: without a
        // DestinationRule's ISTIO_MUTUAL the sidecar speaks plain text to the gateway.
        private UpstreamTlsContext? BuildUpstreamTlsContext(ClientTls? tls, string clusterName, Service service)
        {
            if (tls is { Mode: "ISTIO_MUTUAL" })
            {
                // cluster_tls.go buildIstioMutualTLS: the workload certificate, the mesh root, the rule's SANs; the SNI
                // is the rule's or the cluster name's.
                return new UpstreamTlsContext(new CommonTlsContext([new SdsSecretConfig(SdsSecretConfig.WorkloadCertificate)],
                    new CombinedCertificateValidationContext(Exact(tls.SubjectAltNames), new SdsSecretConfig(SdsSecretConfig.MeshRoot))),
                    tls.Sni ?? SniOfCluster(clusterName));
            }
            if (tls is not { Mode: "SIMPLE" or "MUTUAL" })
            {
                return null;
            }
            // cluster_tls.go: the rule's SANs, else the ServiceEntry's. A credentialName's CA comes over SDS
            // (kubernetes://<name>-cacert); caCertificates as file-root:<path>; neither: the system's roots.
            var sans = tls.SubjectAltNames.Count > 0 ? tls.SubjectAltNames : service.SubjectAltNames;
            var validationSecret = tls.CredentialName is { } credential ? MeshEnvironment.CaCredentialResource(credential)
                : tls.CaCertificates is { Length: > 0 } ca ? $"file-root:{ca}"
                : SdsSecretConfig.SystemRoot;
            var validation = tls.InsecureSkipVerify ? null
                : new CombinedCertificateValidationContext(Exact(sans), new SdsSecretConfig(validationSecret));
            // authentication.go ApplyCustomSDSToClientCommonTLSContext: MUTUAL with a credentialName takes its
            // certificate from SDS kubernetes://<name>; without one from the files the rule names, which the proxy's
            // agent serves as SDS file-cert:<cert>~<key> (security.SdsCertificateConfig).
            List<SdsSecretConfig> certificate = tls.Mode != "MUTUAL" ? []
                : [new SdsSecretConfig(tls.CredentialName is { } name ? MeshEnvironment.CredentialResource(name) : $"file-cert:{tls.ClientCertificate}~{tls.PrivateKey}")];
            AddSdsSecrets(tls.CredentialName, tls.ClientCertificate, tls.PrivateKey, tls.CaCertificates,
                certificate.FirstOrDefault()?.Name, validation is null ? null : validationSecret);
            return new UpstreamTlsContext(new CommonTlsContext(certificate, validation), tls.Sni);
        }

        private static DefaultValidationContext Exact(IReadOnlyList<string> names) =>
            new([.. names.Select(name => new StringMatcher(name, null, null))]);

        // cluster_builder.go / cluster_traffic_policy.go applyConnectionPool and applyH2Upgrade, cluster_tls.go
        // setAutoSniAndAutoSanValidation: the HTTP protocol options; null when none differs from Envoy's defaults.
        private static TypedExtensionProtocolOptions? BuildHttpProtocolOptions(ConnectionPool? pool, ServicePort port, ClientTls? tls)
        {
            var common = pool?.IdleTimeout is null && pool?.MaxConnectionDuration is null && pool?.MaxRequestsPerConnection is not > 0 ? null
                : new CommonHttpProtocolOptions(pool?.IdleTimeout, pool?.MaxConnectionDuration,
                    pool?.MaxRequestsPerConnection is > 0 and var perConnection ? perConnection : null);
            // Decided on the rule's own fields, before the fallback to the ServiceEntry's subjectAltNames.
            var upstream = tls is { Mode: "SIMPLE" or "MUTUAL" } && string.IsNullOrEmpty(tls.Sni)
                ? new UpstreamHttpProtocolOptions(AutoSni: true, AutoSanValidation: tls.SubjectAltNames.Count == 0 && !tls.InsecureSkipVerify)
                : null;
            var http2 = port.Protocol is "HTTP2" or "GRPC" ? new ExplicitHttpConfig(new Http2ProtocolOptions()) : null;
            var downstream = pool?.UseClientProtocol is true ? new UseDownstreamHttpConfig() : null;
            return common is null && upstream is null && http2 is null && downstream is null ? null
                : new TypedExtensionProtocolOptions(new HttpProtocolOptions(common, upstream, http2, downstream));
        }

        // The connection pool's limits as circuit breaker thresholds: Istio raises every unset one to 2^32−1.
        private CircuitBreakers DefaultCircuitBreakers(ConnectionPool? pool = null) => new(
        [
            new Thresholds(
                pool?.MaxConnections is > 0 and var c ? c : uint.MaxValue,
                pool?.Http1MaxPendingRequests is > 0 and var p ? p : uint.MaxValue,
                pool?.Http2MaxRequests is > 0 and var r ? r : uint.MaxValue,
                pool?.MaxRetries is > 0 and var m ? m : uint.MaxValue,
                Version.CircuitBreakersTrackRemaining),
        ]);

        private static Metadata<ClusterIstioMetadata> ClusterMetadata(string host, string? subset, string? config) =>
            new(new(new ClusterIstioMetadata([new ServiceMetadata(host)], subset, config)));

        // cluster_traffic_policy.go applyLoadBalancer: an ORIGINAL_DST cluster is CLUSTER_PROVIDED whatever the rule says;
        // LEAST_CONN and LEAST_REQUEST are LEAST_REQUEST, RANDOM and ROUND_ROBIN themselves, anything else (no rule,
        // UNSPECIFIED) defaultLBAlgorithm(), LEAST_REQUEST.
        private static string TranslateLbPolicy(string clusterType, string? simple) => clusterType == "ORIGINAL_DST" ? "CLUSTER_PROVIDED" : simple switch
        {
            "ROUND_ROBIN" => "ROUND_ROBIN",
            "RANDOM" => "RANDOM",
            _ => "LEAST_REQUEST",
        };

        // route.go LookupHash / ConsistentHashToHashPolicy: the hash key of the destination's effective DestinationRule
        // policy (its subset's, then the port's), as a route hash_policy; none without a consistentHash.
        private List<HashPolicy> HashPolicyFor(Destination destination, int port)
        {
            if (!_services.TryGetValue(destination.Host, out var service) || FindDestinationRule(service) is not { } rule)
            {
                return [];
            }
            var subset = destination.Subset is { } name ? _subsets.Find(rule, name) : null;
            var hash = TrafficPolicies.Effective(rule.TrafficPolicy, subset?.TrafficPolicy, port)?.LoadBalancer?.ConsistentHash;
            return hash is null ? [] : [new HashPolicy(
                hash.HttpHeaderName is { } header ? new HeaderHashPolicy(header) : null,
                hash.HttpQueryParameterName is { } query ? new QueryParameterHashPolicy(query) : null,
                hash.UseSourceIp ? new ConnectionPropertiesHashPolicy(true) : null)
            {
                Cookie = hash.HttpCookie is { } cookie
                    ? new CookieHashPolicy(cookie.Name, cookie.Ttl, string.IsNullOrEmpty(cookie.Path) ? null : cookie.Path)
                    {
                        Attributes = [.. cookie.Attributes.Select(a => new CookieAttribute(a.Key, a.Value))],
                    }
                    : null,
            }];
        }

        // Istio's cluster-name SNI for ISTIO_MUTUAL without an explicit sni: outbound_.443_.v1_.host.
        private static string SniOfCluster(string clusterName) =>
            clusterName.Split('|') is [var direction, var port, var subset, var host] ? $"{direction}_.{port}_.{subset}_.{host}" : clusterName;

        // Endpoints: the ServiceEntry's, filtered by the subset's labels; without any, the host itself (DNS).
        private static List<LbEndpoint> Endpoints(Service service, ServicePort port, Subset? subset)
        {
            if (service.Endpoints.Count == 0 && service.Host.Contains('*'))
            {
                return [];
            }
            if (service.Endpoints.Count == 0)
            {
                return [LbEndpoint.At(service.Host, port.TargetPort ?? port.Number)];
            }
            return service.Endpoints
                .Where(e => subset is null || subset.Labels.All(l => e.Labels.TryGetValue(l.Key, out var v) && v == l.Value))
                .Select(e => LbEndpoint.At(e.Address, port.Name is { } portName && e.Ports.TryGetValue(portName, out var target) ? target : port.TargetPort ?? port.Number, e.Labels))
                .ToList();
        }

        // cluster_traffic_policy.go applyOutlierDetection; unset fields keep Envoy's defaults (consecutive_5xx 5
        // enforced at 100%, consecutive_gateway_failure 5 enforced at 0%, interval 10 s, base ejection 30 s, max 10%).
        private static OutlierDetection? TranslateOutlierDetection(IstioOutlierDetection? outlier)
        {
            if (outlier is null)
            {
                return null;
            }
            return new OutlierDetection(
                outlier.Consecutive5xxErrors ?? 5,
                outlier.Interval ?? TimeSpan.FromSeconds(10),
                outlier.BaseEjectionTime ?? TimeSpan.FromSeconds(30),
                outlier.MaxEjectionPercent is > 0 and var max ? max : 10,
                outlier.Consecutive5xxErrors is null ? 100 : outlier.Consecutive5xxErrors > 0 ? 100 : 0,
                outlier.ConsecutiveGatewayErrors ?? 5,
                outlier.ConsecutiveGatewayErrors is > 0 ? 100 : 0)
            {
                SplitExternalLocalOriginErrors = outlier.SplitExternalLocalOriginErrors,
                ConsecutiveLocalOriginFailure = outlier.ConsecutiveLocalOriginFailures,
            };
        }
    }
}
