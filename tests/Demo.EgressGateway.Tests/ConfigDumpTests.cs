using System.Text.Json;
using Demo.EgressGateway.Envoy;
using Demo.EgressGateway.Istio;

namespace Demo.EgressGateway.Tests;

/// <summary>
/// <c>/config_dump</c> is the JSON serialization of the Envoy records, nested as Envoy's protos nest them (envoy.admin.v3
/// ConfigDump and the listener, route, cluster, endpoint and TLS protos): the paths below are those of
/// <c>istioctl proxy-config … -o json</c> for the demo's configuration (deploy/istio).
/// </summary>
public sealed class ConfigDumpTests
{
    private static readonly MeshXds Xds = IstioTranslator.Translate(IstioConfigLoader.LoadDirectory(ConfigFolder.DeployIstio), new MeshEnvironment());

    private static JsonElement Dump(ProxyConfig proxy, string? resource = null, bool includeEds = false)
    {
        using var document = JsonDocument.Parse(ConfigDump.ToJson(proxy, resource, includeEds));
        return document.RootElement.Clone();
    }

    private static JsonElement Named(JsonElement list, string name) =>
        list.EnumerateArray().Single(item => item.GetProperty("name").GetString() == name);

    [Fact]
    public void The_whole_dump_is_Envoys_admin_ConfigDump_with_one_entry_per_resource_kind()
    {
        var configs = Dump(Xds.Gateway).GetProperty("configs").EnumerateArray().Select(c => c.GetProperty("@type").GetString()).ToList();
        Assert.Equal(
        [
            "type.googleapis.com/envoy.admin.v3.ListenersConfigDump", "type.googleapis.com/envoy.admin.v3.RoutesConfigDump",
            "type.googleapis.com/envoy.admin.v3.ClustersConfigDump", "type.googleapis.com/envoy.admin.v3.SecretsConfigDump",
        ], configs);
        var withEds = Dump(Xds.Sidecar, includeEds: true).GetProperty("configs").EnumerateArray().Last();
        Assert.Equal("type.googleapis.com/envoy.admin.v3.EndpointsConfigDump", withEds.GetProperty("@type").GetString());
        var listener = Dump(Xds.Gateway).GetProperty("configs")[0].GetProperty("dynamic_listeners")[0];
        Assert.Equal("0.0.0.0_443", listener.GetProperty("name").GetString());
        Assert.Equal("0.0.0.0_443", listener.GetProperty("active_state").GetProperty("listener").GetProperty("name").GetString());
    }

    [Fact]
    public void A_gateway_filter_chain_nests_its_match_tls_context_and_connection_manager_as_the_listener_proto()
    {
        var chain = Named(Dump(Xds.Gateway, ConfigDump.ListenersResource), "0.0.0.0_443").GetProperty("filter_chains")[0];
        Assert.Equal(["hello-istio-v1.apps.example.com", "hello-istio-v2.apps.example.com"],
            chain.GetProperty("filter_chain_match").GetProperty("server_names").EnumerateArray().Select(n => n.GetString()).Order());
        Assert.Equal("tls", chain.GetProperty("filter_chain_match").GetProperty("transport_protocol").GetString());
        var tls = chain.GetProperty("transport_socket");
        Assert.Equal("envoy.transport_sockets.tls", tls.GetProperty("name").GetString());
        Assert.Equal("type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext", tls.GetProperty("typed_config").GetProperty("@type").GetString());
        Assert.True(tls.GetProperty("typed_config").GetProperty("require_client_certificate").GetBoolean());
        var common = tls.GetProperty("typed_config").GetProperty("common_tls_context");
        Assert.Equal("default", common.GetProperty("tls_certificate_sds_secret_configs")[0].GetProperty("name").GetString());
        Assert.Equal("ROOTCA", common.GetProperty("combined_validation_context").GetProperty("validation_context_sds_secret_config").GetProperty("name").GetString());
        var manager = chain.GetProperty("filters")[0];
        Assert.Equal("envoy.filters.network.http_connection_manager", manager.GetProperty("name").GetString());
        Assert.Equal("https.443.https.hello-cf-egress.istio-system", manager.GetProperty("typed_config").GetProperty("rds").GetProperty("route_config_name").GetString());
        Assert.Equal("envoy.filters.http.router", manager.GetProperty("typed_config").GetProperty("http_filters").EnumerateArray().Last().GetProperty("name").GetString());
    }

    [Fact]
    public void A_route_carries_decorator_metadata_and_per_filter_config_where_the_route_proto_has_them()
    {
        var sidecarRoutes = Named(Dump(Xds.Sidecar, ConfigDump.RoutesResource), "80");
        var hello = Named(sidecarRoutes.GetProperty("virtual_hosts"), "hello.external:80");
        Assert.True(hello.GetProperty("include_request_attempt_count").GetBoolean());
        var route = hello.GetProperty("routes")[0];
        Assert.StartsWith("/apis/networking.istio.io/v1/namespaces/", route.GetProperty("metadata").GetProperty("filter_metadata").GetProperty("istio").GetProperty("config").GetString(), StringComparison.Ordinal);
        Assert.Equal(JsonValueKind.String, route.GetProperty("decorator").GetProperty("operation").ValueKind);
        Assert.Equal("5s", route.GetProperty("route").GetProperty("timeout").GetString());
        var retry = route.GetProperty("route").GetProperty("retry_policy");
        Assert.Equal("envoy.retry_host_predicates.previous_hosts", retry.GetProperty("retry_host_predicate")[0].GetProperty("name").GetString());
        Assert.False(sidecarRoutes.GetProperty("validate_clusters").GetBoolean());
        Assert.True(sidecarRoutes.GetProperty("ignore_port_in_host_matching").GetBoolean());

        var gatewayRoutes = Dump(Xds.Gateway, ConfigDump.RoutesResource).EnumerateArray().Single();
        var faulted = gatewayRoutes.GetProperty("virtual_hosts").EnumerateArray().SelectMany(v => v.GetProperty("routes").EnumerateArray())
            .First(r => r.TryGetProperty("typed_per_filter_config", out _));
        var fault = faulted.GetProperty("typed_per_filter_config").GetProperty("envoy.filters.http.fault");
        Assert.Equal("type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault", fault.GetProperty("@type").GetString());
        Assert.Equal(418, fault.GetProperty("abort").GetProperty("http_status").GetInt32());
        Assert.Equal("MILLION", fault.GetProperty("abort").GetProperty("percentage").GetProperty("denominator").GetString());
    }

    [Fact]
    public void A_cluster_nests_tls_protocol_options_endpoints_and_metadata_as_the_cluster_proto()
    {
        var clusters = Dump(Xds.Gateway, ConfigDump.ClustersResource);
        var v1 = Named(clusters, "outbound|443||hello-istio-v1.apps.example.com");
        var tls = v1.GetProperty("transport_socket").GetProperty("typed_config");
        Assert.Equal("type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext", tls.GetProperty("@type").GetString());
        Assert.Equal("hello-istio-v1.apps.example.com", tls.GetProperty("sni").GetString());
        Assert.Equal("file-root:system", tls.GetProperty("common_tls_context").GetProperty("combined_validation_context")
            .GetProperty("validation_context_sds_secret_config").GetProperty("name").GetString());
        var endpoint = v1.GetProperty("load_assignment").GetProperty("endpoints")[0].GetProperty("lb_endpoints")[0];
        Assert.Equal("hello-istio-v1.apps.example.com", endpoint.GetProperty("endpoint").GetProperty("address").GetProperty("socket_address").GetProperty("address").GetString());
        Assert.Equal(443, endpoint.GetProperty("endpoint").GetProperty("address").GetProperty("socket_address").GetProperty("port_value").GetInt32());
        Assert.Equal("hello-istio-v1.apps.example.com", v1.GetProperty("metadata").GetProperty("filter_metadata").GetProperty("istio")
            .GetProperty("services")[0].GetProperty("host").GetString());
        Assert.Equal("10s", v1.GetProperty("connect_timeout").GetString());

        // The sidecar's clusters for the gateway's Service: EDS (endpoints under EndpointsConfigDump); on the http2 port
        // HTTP/2 by typed_extension_protocol_options; on 443 ISTIO_MUTUAL with the DestinationRule subset's SNI.
        var sidecar = Dump(Xds.Sidecar, ConfigDump.ClustersResource);
        var hop = Named(sidecar, $"outbound|80|v1|{new MeshEnvironment().EgressGatewayService}");
        Assert.Equal("EDS", hop.GetProperty("type").GetString());
        Assert.False(hop.TryGetProperty("load_assignment", out _));
        Assert.Equal(hop.GetProperty("name").GetString(), hop.GetProperty("eds_cluster_config").GetProperty("service_name").GetString());
        Assert.Equal(JsonValueKind.Object, hop.GetProperty("typed_extension_protocol_options").GetProperty("envoy.extensions.upstreams.http.v3.HttpProtocolOptions")
            .GetProperty("explicit_http_config").GetProperty("http2_protocol_options").ValueKind);
        var mutual = Named(sidecar, $"outbound|443|v1|{new MeshEnvironment().EgressGatewayService}");
        Assert.Equal("hello-istio-v1.apps.example.com", mutual.GetProperty("transport_socket").GetProperty("typed_config").GetProperty("sni").GetString());
        var endpoints = Dump(Xds.Sidecar, ConfigDump.EndpointsResource).EnumerateArray()
            .Single(e => e.GetProperty("cluster_name").GetString() == hop.GetProperty("name").GetString());
        Assert.Single(endpoints.GetProperty("endpoints")[0].GetProperty("lb_endpoints").EnumerateArray());
    }

    [Fact]
    public void Secrets_list_what_SDS_serves_for_the_names_the_TLS_contexts_use()
    {
        var folder = Directory.CreateTempSubdirectory("dump-secrets-");
        try
        {
            var ca = Path.Combine(folder.FullName, "ca.pem");
            File.WriteAllText(ca, "not read by the translator");
            var config = IstioConfigLoader.Parse("api.yaml", $$"""
                apiVersion: networking.istio.io/v1
                kind: ServiceEntry
                metadata:
                  name: api
                spec:
                  hosts: [api.example.com]
                  ports: [{ number: 443, name: https, protocol: HTTPS }]
                  resolution: DNS
                ---
                apiVersion: networking.istio.io/v1
                kind: DestinationRule
                metadata:
                  name: api
                spec:
                  host: api.example.com
                  trafficPolicy:
                    tls:
                      mode: SIMPLE
                      caCertificates: {{ca}}
                """);
            Assert.False(config.HasErrors, string.Join('\n', config.Diagnostics));
            var gateway = IstioTranslator.Translate(config, new MeshEnvironment()).Gateway;
            var secret = Named(Dump(gateway, ConfigDump.SecretsResource), $"file-root:{ca}");
            Assert.Equal(ca, secret.GetProperty("validation_context").GetProperty("trusted_ca").GetProperty("filename").GetString());
            Assert.Equal($"file-root:{ca}", Named(Dump(gateway, ConfigDump.ClustersResource), "outbound|443||api.example.com")
                .GetProperty("transport_socket").GetProperty("typed_config").GetProperty("common_tls_context")
                .GetProperty("combined_validation_context").GetProperty("validation_context_sds_secret_config").GetProperty("name").GetString());
        }
        finally
        {
            folder.Delete(recursive: true);
        }
    }
}
