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
            if (service.Host.Contains('*'))
            {
                // A wildcard ServiceEntry host has no cluster of its own in this model (Istio: ORIGINAL_DST/DFP).
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

            var endpoints = Endpoints(service, port, subset);
            UpstreamTlsContext? transportSocket = null;
            if (tls is { CredentialName: not null, Mode: "SIMPLE" or "MUTUAL" } && !isGateway)
            {
                // cluster_tls.go: a credentialName is a Secret only gateways may read; a sidecar gets no TLS context at all.
                tls = null;
            }
            // No auto mTLS to the egress gateway: istiod's auto mTLS (cluster_builder.go buildAutoMtlsSettings) picks
            // ISTIO_MUTUAL only for endpoints labelled security.istio.io/tlsMode: istio, which the sidecar injector sets
            // and the gateway's pods (helm chart, gateway-injection-template.yaml) do not carry: without a
            // DestinationRule's ISTIO_MUTUAL the sidecar speaks plain text to the gateway.
            if (tls is { Mode: "ISTIO_MUTUAL" })
            {
                transportSocket = new UpstreamTlsContext(tls.Sni ?? SniOfCluster(name), tls.SubjectAltNames, null, IstioMutual: true, false);
            }
            else if (tls is { Mode: "SIMPLE" or "MUTUAL" })
            {
                var sans = tls.SubjectAltNames.Count > 0 ? tls.SubjectAltNames : service.SubjectAltNames;
                // cluster_tls.go: a credentialName's CA comes over SDS (kubernetes://<name>-cacert); the local stand-in
                // for that Secret is EgressGateway:Credentials. Without one, istiod sends no secret.
                var trustedCa = tls.CredentialName is { } credential ? environment.CaForCredential(credential) : tls.CaCertificates ?? "system";
                transportSocket = new UpstreamTlsContext(tls.Sni, sans, tls.InsecureSkipVerify ? null : trustedCa,
                    IstioMutual: false, tls.InsecureSkipVerify)
                {
                    ValidationSecret = tls.CredentialName is { } secret ? MeshEnvironment.CaCredentialResource(secret) : null,
                    // authentication.go ApplyCustomSDSToClientCommonTLSContext: MUTUAL with a credentialName takes its
                    // certificate from SDS kubernetes://<name>; without one from the files the rule names, which the
                    // proxy's agent serves as SDS file-cert:<cert>~<key> (security.SdsCertificateConfig): missing files
                    // are a secret not supplied.
                    CertificateSecret = tls.Mode != "MUTUAL" ? null
                        : tls.CredentialName is { } certificateSecret ? MeshEnvironment.CredentialResource(certificateSecret)
                        : $"file-cert:{tls.ClientCertificate}~{tls.PrivateKey}",
                    ClientCertificate = tls.Mode != "MUTUAL" ? null
                        : tls.CredentialName is { } credential2 ? environment.KeyCertForCredential(credential2)
                        : MeshEnvironment.IsUsableKeyPair(tls.ClientCertificate, tls.PrivateKey) ? (tls.ClientCertificate!, tls.PrivateKey!) : null,
                    // cluster_tls.go decides before it falls back to the ServiceEntry's subjectAltNames: the rule's own fields count.
                    AutoSanValidation = string.IsNullOrEmpty(tls.Sni) && tls.SubjectAltNames.Count == 0 && !tls.InsecureSkipVerify,
                };
            }
            var type = service.IsEgressGatewayService ? "EDS" : service.Resolution switch
            {
                "DNS" => "STRICT_DNS",
                "DNS_ROUND_ROBIN" => "LOGICAL_DNS",
                "STATIC" => "STATIC",
                _ => "ORIGINAL_DST",
            };
            _clusters[name] = new Cluster(
                name,
                type,
                pool?.ConnectTimeout ?? DefaultConnectTimeout,
                endpoints,
                transportSocket,
                TranslateOutlierDetection(outlier),
                new CircuitBreakers(
                    pool?.MaxConnections is > 0 and var c ? c : uint.MaxValue,
                    pool?.Http1MaxPendingRequests is > 0 and var p ? p : uint.MaxValue,
                    pool?.Http2MaxRequests is > 0 and var r ? r : uint.MaxValue,
                    pool?.MaxRetries is > 0 and var m ? m : uint.MaxValue)
                {
                    TrackRemaining = Version.CircuitBreakersTrackRemaining,
                },
                new ClusterMetadata(service.Host, port.Number, subset?.Name, rule is null ? null : ConfigSource(rule)))
            {
                IdleTimeout = pool?.IdleTimeout,
                MaxConnectionDuration = pool?.MaxConnectionDuration,
                MinHealthPercent = outlier is null ? null : outlier.MinHealthPercent ?? 0,
                SplitExternalLocalOriginErrors = outlier?.SplitExternalLocalOriginErrors ?? false,
                ConsecutiveLocalOriginFailure = outlier?.ConsecutiveLocalOriginFailures,
                Http2 = port.Protocol is "HTTP2" or "GRPC",
                UseDownstreamProtocol = pool?.UseClientProtocol ?? false,
                MaxRequestsPerConnection = pool?.MaxRequestsPerConnection is > 0 and var perConnection ? perConnection : null,
                // cluster_traffic_policy.go applyLoadBalancer: consistentHash is MAGLEV with maglev, else RING_HASH.
                LbPolicy = policy?.LoadBalancer?.ConsistentHash is { } hash && type != "ORIGINAL_DST" ? (hash.Maglev ? "MAGLEV" : "RING_HASH")
                    : TranslateLbPolicy(type, policy?.LoadBalancer?.Simple),
                MinimumRingSize = policy?.LoadBalancer?.ConsistentHash is { Maglev: false } ringHash ? ringHash.MinimumRingSize : null,
            };
        }

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
            var subset = destination.Subset is { } name ? rule.Subsets.FirstOrDefault(s => s.Name == name) : null;
            var hash = TrafficPolicies.Effective(rule.TrafficPolicy, subset?.TrafficPolicy, port)?.LoadBalancer?.ConsistentHash;
            return hash is null ? [] : [new HashPolicy(hash.HttpHeaderName, hash.HttpQueryParameterName, hash.UseSourceIp)];
        }

        // Istio's cluster-name SNI for ISTIO_MUTUAL without an explicit sni: outbound_.443_.v1_.host.
        private static string SniOfCluster(string clusterName) =>
            clusterName.Split('|') is [var direction, var port, var subset, var host] ? $"{direction}_.{port}_.{subset}_.{host}" : clusterName;

        // Endpoints: the ServiceEntry's, filtered by the subset's labels; without any, the host itself (DNS).
        private static List<LbEndpoint> Endpoints(Service service, ServicePort port, Subset? subset)
        {
            if (service.Endpoints.Count == 0)
            {
                return [new LbEndpoint(service.Host, port.TargetPort ?? port.Number, new Dictionary<string, string>())];
            }
            return service.Endpoints
                .Where(e => subset is null || subset.Labels.All(l => e.Labels.TryGetValue(l.Key, out var v) && v == l.Value))
                .Select(e => new LbEndpoint(e.Address, port.Name is { } portName && e.Ports.TryGetValue(portName, out var target) ? target : port.TargetPort ?? port.Number, e.Labels))
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
                outlier.ConsecutiveGatewayErrors ?? 5,
                outlier.Interval ?? TimeSpan.FromSeconds(10),
                outlier.BaseEjectionTime ?? TimeSpan.FromSeconds(30),
                outlier.MaxEjectionPercent is > 0 and var max ? max : 10,
                outlier.Consecutive5xxErrors is null ? 100 : outlier.Consecutive5xxErrors > 0 ? 100 : 0,
                outlier.ConsecutiveGatewayErrors is > 0 ? 100 : 0);
        }
    }
}
