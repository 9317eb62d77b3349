using System.Text.Json;

namespace Demo.EgressGateway.Envoy;

// ConfigDump, continued: the clusters (envoy.config.cluster.v3.Cluster: discovery type, load assignment, TLS transport socket, circuit breakers, outlier detection).
public static partial class ConfigDump
{
    /// <summary>One cluster as <c>/config_dump</c> writes it (compact JSON): its definition, to tell a changed cluster from an unchanged one.</summary>
    public static string ClusterJson(Cluster cluster)
    {
        using var stream = new MemoryStream();
        using (var json = new Utf8JsonWriter(stream))
        {
            WriteCluster(json, cluster);
        }
        return System.Text.Encoding.UTF8.GetString(stream.ToArray());
    }

    private static void WriteCluster(Utf8JsonWriter json, Cluster cluster)
    {
        json.WriteStartObject();
        json.WriteString("@type", "type.googleapis.com/envoy.config.cluster.v3.Cluster");
        json.WriteString("name", cluster.Name);
        json.WriteString("type", cluster.Type);
        json.WriteString("connect_timeout", Duration(cluster.ConnectTimeout));
        // Written even for ROUND_ROBIN, the proto's zero value that Envoy's own dump leaves out (as "type" is for STATIC).
        json.WriteString("lb_policy", cluster.LbPolicy);
        if (cluster.MinimumRingSize is { } ringSize)
        {
            json.WriteStartObject("ring_hash_lb_config");
            json.WriteNumber("minimum_ring_size", ringSize);
            json.WriteEndObject();
        }
        json.WriteStartObject("circuit_breakers");
        json.WriteStartArray("thresholds");
        json.WriteStartObject();
        json.WriteNumber("max_connections", cluster.CircuitBreakers.MaxConnections);
        json.WriteNumber("max_pending_requests", cluster.CircuitBreakers.MaxPendingRequests);
        json.WriteNumber("max_requests", cluster.CircuitBreakers.MaxRequests);
        json.WriteNumber("max_retries", cluster.CircuitBreakers.MaxRetries);
        if (cluster.CircuitBreakers.TrackRemaining)
        {
            // proto3 JSON leaves out a false bool, as Envoy's dump does.
            json.WriteBoolean("track_remaining", true);
        }
        json.WriteEndObject();
        json.WriteEndArray();
        json.WriteEndObject();
        if (cluster.OutlierDetection is { } outlier)
        {
            json.WriteStartObject("outlier_detection");
            if (outlier.Consecutive5xx is { } c5xx)
            {
                json.WriteNumber("consecutive_5xx", c5xx);
            }
            json.WriteString("interval", Duration(outlier.Interval));
            json.WriteString("base_ejection_time", Duration(outlier.BaseEjectionTime));
            json.WriteNumber("max_ejection_percent", outlier.MaxEjectionPercent);
            json.WriteNumber("enforcing_consecutive_5xx", outlier.EnforcingConsecutive5xx);
            json.WriteNumber("enforcing_success_rate", 0);
            if (outlier.ConsecutiveGatewayFailure is { } gateway)
            {
                json.WriteNumber("consecutive_gateway_failure", gateway);
            }
            json.WriteNumber("enforcing_consecutive_gateway_failure", outlier.EnforcingConsecutiveGatewayFailure);
            if (cluster.SplitExternalLocalOriginErrors)
            {
                json.WriteBoolean("split_external_local_origin_errors", true);
            }
            json.WriteEndObject();
            json.WriteStartObject("common_lb_config");
            json.WriteStartObject("healthy_panic_threshold");
            json.WriteNumber("value", cluster.MinHealthPercent ?? 0);
            json.WriteEndObject();
            json.WriteEndObject();
        }
        if (cluster.Type == "EDS")
        {
            // Endpoints of a mesh service come over EDS: the dump names the service, not its pods.
            json.WriteStartObject("eds_cluster_config");
            json.WriteStartObject("eds_config");
            json.WriteStartObject("ads");
            json.WriteEndObject();
            json.WriteString("initial_fetch_timeout", "0s");
            json.WriteString("resource_api_version", "V3");
            json.WriteEndObject();
            json.WriteString("service_name", cluster.Name);
            json.WriteEndObject();
        }
        else
        {
            WriteLoadAssignment(json, cluster);
        }
        WriteClusterTail(json, cluster);
    }

    private static void WriteLoadAssignment(Utf8JsonWriter json, Cluster cluster)
    {
        json.WriteStartObject("load_assignment");
        json.WriteString("cluster_name", cluster.Name);
        json.WriteStartArray("endpoints");
        json.WriteStartObject();
        json.WriteStartArray("lb_endpoints");
        foreach (var endpoint in cluster.Endpoints)
        {
            json.WriteStartObject();
            json.WriteStartObject("endpoint");
            json.WriteStartObject("address");
            json.WriteStartObject("socket_address");
            json.WriteString("address", endpoint.Address);
            json.WriteNumber("port_value", endpoint.PortValue);
            json.WriteEndObject();
            json.WriteEndObject();
            json.WriteEndObject();
            if (endpoint.Labels.Count > 0)
            {
                json.WriteStartObject("metadata");
                json.WriteStartObject("filter_metadata");
                json.WriteStartObject("istio");
                foreach (var (key, value) in endpoint.Labels)
                {
                    json.WriteString(key, value);
                }
                json.WriteEndObject();
                json.WriteEndObject();
                json.WriteEndObject();
            }
            json.WriteEndObject();
        }
        json.WriteEndArray();
        json.WriteEndObject();
        json.WriteEndArray();
        json.WriteEndObject();
    }

    private static void WriteClusterTail(Utf8JsonWriter json, Cluster cluster)
    {
        if (cluster.TransportSocket is { } tls)
        {
            json.WriteStartObject("transport_socket");
            json.WriteString("name", "envoy.transport_sockets.tls");
            json.WriteStartObject("typed_config");
            json.WriteString("@type", "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext");
            if (tls.Sni is { } sni)
            {
                json.WriteString("sni", sni);
            }
            json.WriteStartObject("common_tls_context");
            if (tls.IstioMutual || tls.CertificateSecret is not null)
            {
                json.WriteStartArray("tls_certificate_sds_secret_configs");
                json.WriteStartObject();
                json.WriteString("name", tls.CertificateSecret ?? "default");
                json.WriteEndObject();
                json.WriteEndArray();
            }
            if (!tls.InsecureSkipVerify)
            {
                json.WriteStartObject("combined_validation_context");
                json.WriteStartObject("default_validation_context");
                if (tls.MatchSubjectAltNames.Count > 0)
                {
                    WriteObjectList(json, "match_subject_alt_names", "exact", tls.MatchSubjectAltNames);
                }
                json.WriteEndObject();
                json.WriteStartObject("validation_context_sds_secret_config");
                json.WriteString("name", tls.IstioMutual ? "ROOTCA" : tls.ValidationSecret ?? $"file-root:{tls.TrustedCa ?? "system"}");
                json.WriteEndObject();
                json.WriteEndObject();
            }
            json.WriteEndObject();
            json.WriteEndObject();
            json.WriteEndObject();
        }
        if (cluster.IdleTimeout is not null || cluster.MaxConnectionDuration is not null || cluster.MaxRequestsPerConnection is not null)
        {
            json.WriteStartObject("common_http_protocol_options");
            if (cluster.MaxRequestsPerConnection is { } perConnection)
            {
                json.WriteNumber("max_requests_per_connection", perConnection);
            }
            if (cluster.IdleTimeout is { } idle)
            {
                json.WriteString("idle_timeout", Duration(idle));
            }
            if (cluster.MaxConnectionDuration is { } duration)
            {
                json.WriteString("max_connection_duration", Duration(duration));
            }
            json.WriteEndObject();
        }
        json.WriteStartObject("metadata");
        json.WriteStartObject("filter_metadata");
        json.WriteStartObject("istio");
        json.WriteStartArray("services");
        json.WriteStartObject();
        json.WriteString("host", cluster.Metadata.ServiceHost);
        json.WriteEndObject();
        json.WriteEndArray();
        if (cluster.Metadata.Subset is { } subset)
        {
            json.WriteString("subset", subset);
        }
        if (cluster.Metadata.ConfigSource is { } source)
        {
            json.WriteString("config", source);
        }
        json.WriteEndObject();
        json.WriteEndObject();
        json.WriteEndObject();
        json.WriteEndObject();
    }

    private static void WriteStrings(Utf8JsonWriter json, string name, IEnumerable<string> values)
    {
        json.WriteStartArray(name);
        foreach (var value in values)
        {
            json.WriteStringValue(value);
        }
        json.WriteEndArray();
    }
}
