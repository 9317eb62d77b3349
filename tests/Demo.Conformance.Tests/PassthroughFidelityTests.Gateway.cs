using System.Net;
using System.Net.Security;
using System.Reflection;
using System.Security.Authentication;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using static Demo.Conformance.Tests.MeshYaml;

namespace Demo.Conformance.Tests;

// PassthroughFidelityTests, continued: gateway servers, reloads, visibility and what /config_dump shows.
public sealed partial class PassthroughFidelityTests
{
    // P8. gateway.go buildGatewayNetworkFiltersFromTLSRoutes: once the VS's hosts match the server's (pickMatchingGatewayHosts),
    // the match's sniHosts become the chain's server_names whole — not cut down to the server's hosts.
    [Fact]
    public async Task APassthroughServerTakesTheRoutesSniHostsWhole()
    {
        var yaml = Join(
            Se("wiki", "*.wikipedia.org", "    - number: 443\n      name: tls\n      protocol: TLS", resolution: "NONE"),
            ServiceEntry("www.wikipedia.org", (443, "TLS")),
            """
            apiVersion: networking.istio.io/v1
            kind: Gateway
            metadata:
              name: istio-egressgateway
            spec:
              selector:
                istio: egressgateway
              servers:
                - port:
                    number: 443
                    name: tls
                    protocol: TLS
                  hosts:
                    - en.wikipedia.org
                  tls:
                    mode: PASSTHROUGH
            ---
            apiVersion: networking.istio.io/v1
            kind: DestinationRule
            metadata:
              name: egressgateway-for-wikipedia
            spec:
              host: istio-egressgateway.istio-system.svc.cluster.local
              subsets:
                - name: wikipedia
            ---
            apiVersion: networking.istio.io/v1
            kind: VirtualService
            metadata:
              name: wiki
            spec:
              hosts:
                - "*.wikipedia.org"
              gateways:
                - mesh
                - istio-egressgateway
              tls:
                - match:
                    - gateways:
                        - mesh
                      port: 443
                      sniHosts:
                        - "*.wikipedia.org"
                  route:
                    - destination:
                        host: istio-egressgateway.istio-system.svc.cluster.local
                        subset: wikipedia
                        port:
                          number: 443
                - match:
                    - gateways:
                        - istio-egressgateway
                      port: 443
                      sniHosts:
                        - "*.wikipedia.org"
                  route:
                    - destination:
                        host: www.wikipedia.org
                        port:
                          number: 443
            """);
        await using var mesh = await ConformanceMesh.StartAsync(yaml, new External("www.wikipedia.org", Tls: true), new External("de.wikipedia.org", Tls: true));
        var gw = mesh.DumpedListener("gateway", "0.0.0.0_443").GetRawText();
        output.WriteLine(gw);
        var ex = await Record.ExceptionAsync(() => AppHttps.GetAsync(mesh, "https://de.wikipedia.org/"));
        Dump(mesh);
        Assert.Contains("\"*.wikipedia.org\"", gw);
        Assert.Null(ex);
    }

    // P9. Envoy: a listener update that leaves a filter chain unchanged keeps its connections (in-place filter chain
    // update / drain only of removed chains). An open tunnel survives a reload that adds an unrelated ServiceEntry.
    [Fact]
    public async Task AnOpenTcpTunnelSurvivesAnUnrelatedReload()
    {
        var tcp = Se("tcp-echo", "tcp-echo.external", "    - number: 9000\n      name: tcp\n      protocol: TCP");
        await using var mesh = await ConformanceMesh.StartAsync(tcp, new External("tcp-echo.external"));
        using var client = new HttpClient(new SocketsHttpHandler
        {
            UseProxy = false,
            MaxConnectionsPerServer = 1,
            ConnectCallback = (context, ct) => AppHttps.InterceptedAsync(mesh, context.DnsEndPoint, ct),
        });
        Assert.Equal("tcp-echo", JsonSerializer.Deserialize<EchoRequest>(await client.GetStringAsync("http://tcp-echo.external:9000/"))!.Hostname);
        File.WriteAllText(Path.Combine(mesh.Folder, "istio.yaml"), Join(tcp, ServiceEntry("unrelated.example.com")));
        var app = (WebApplication)typeof(ConformanceMesh).GetField("_app", BindingFlags.NonPublic | BindingFlags.Instance)!.GetValue(mesh)!;
        var provider = app.Services.GetRequiredService<Demo.EgressGateway.Mesh.MeshSnapshotProvider>();
        Assert.True(provider.Reload());
        await Task.Delay(300);
        var body = await client.GetStringAsync("http://tcp-echo.external:9000/");
        Dump(mesh);
        Assert.Equal("tcp-echo", JsonSerializer.Deserialize<EchoRequest>(body)!.Hostname);
        Assert.DoesNotContain(mesh.Logs, l => l.Contains("cluster=outbound|9000||tcp-echo.external"));
    }

    // P10. A wildcard host with resolution DNS: Istio builds a STRICT_DNS cluster whose endpoint is the wildcard name
    // (conversion.go: DNS, no endpoints → the host); the cluster is in the dump and the connection closes (UH).
    [Fact]
    public async Task AWildcardDnsTlsServiceEntryHasAStrictDnsCluster()
    {
        var yaml = Se("wiki", "*.wikipedia.org", "    - number: 443\n      name: tls\n      protocol: TLS");
        await using var mesh = await ConformanceMesh.StartAsync(yaml, new External("en.wikipedia.org", Tls: true));
        var ex = await Record.ExceptionAsync(() => AppHttps.GetAsync(mesh, "https://en.wikipedia.org/"));
        Dump(mesh);
        Assert.NotNull(ex);
        var line = await AppHttps.TcpLineAsync(mesh, "cluster=outbound|443||*.wikipedia.org ");
        Assert.Contains("\" 0 UH ", line);
        Assert.Equal("STRICT_DNS", mesh.DumpedCluster("sidecar", "outbound|443||*.wikipedia.org").GetProperty("type").GetString());
    }

    // P11. exportTo "." in another namespace hides the TLS service: REGISTRY_ONLY closes it.
    [Fact]
    public async Task ATlsServiceExportedOnlyToItsNamespaceIsHidden()
    {
        var yaml = """
            apiVersion: networking.istio.io/v1
            kind: ServiceEntry
            metadata:
              name: google
              namespace: other
            spec:
              hosts:
                - www.google.com
              exportTo:
                - "."
              location: MESH_EXTERNAL
              resolution: DNS
              ports:
                - number: 443
                  name: tls
                  protocol: TLS
            """;
        await using var mesh = await ConformanceMesh.StartAsync(yaml, new External("www.google.com", Tls: true));
        await Assert.ThrowsAsync<HttpRequestException>(() => AppHttps.GetAsync(mesh, "https://www.google.com/"));
        await AppHttps.TcpLineAsync(mesh, "cluster=BlackHoleCluster ");
    }

    // P12. One VS with http (port 80) and tls (port 443) for a host with both ports.
    [Fact]
    public async Task OneVirtualServiceWithHttpAndTlsRoutes()
    {
        var yaml = Join(ServiceEntry("api.example.com", (80, "HTTP"), (443, "TLS")), ServiceEntry("api2.example.com", (80, "HTTP"), (443, "TLS")), """
            apiVersion: networking.istio.io/v1
            kind: VirtualService
            metadata:
              name: api
            spec:
              hosts:
                - api.example.com
              http:
                - route:
                    - destination:
                        host: api.example.com
                        port:
                          number: 80
                  headers:
                    request:
                      set:
                        x-probe: http
              tls:
                - match:
                    - port: 443
                      sniHosts:
                        - api.example.com
                  route:
                    - destination:
                        host: api2.example.com
                        port:
                          number: 443
            """);
        await using var mesh = await ConformanceMesh.StartAsync(yaml, new External("api.example.com"), new External("api2.example.com", Tls: true));
        var http = await mesh.GetAsync("http://api.example.com/");
        Assert.Equal("http", http.Received.Header("x-probe").Single());
        Assert.Equal("api2", (await AppHttps.GetAsync(mesh, "https://api.example.com/")).Hostname);
    }

    // P13. gateway.go createGatewayTCPFilterChainOpts: a server of protocol TLS with tls.mode ISTIO_MUTUAL (not
    // PASSTHROUGH) terminates TLS and forwards by the tcp routes bound to it: its chain's filter is a tcp_proxy.
    [Fact]
    public async Task ATlsTerminatingServerOfProtocolTlsTakesTcpRoutes()
    {
        var yaml = Join(
            Se("tcp-echo", "tcp-echo.external", "    - number: 9000\n      name: tcp\n      protocol: TCP"),
            """
            apiVersion: networking.istio.io/v1
            kind: Gateway
            metadata:
              name: istio-egressgateway
            spec:
              selector:
                istio: egressgateway
              servers:
                - port:
                    number: 443
                    name: tls
                    protocol: TLS
                  hosts:
                    - tcp-echo.external
                  tls:
                    mode: ISTIO_MUTUAL
            ---
            apiVersion: networking.istio.io/v1
            kind: VirtualService
            metadata:
              name: tcp-echo-gw
            spec:
              hosts:
                - tcp-echo.external
              gateways:
                - istio-egressgateway
              tcp:
                - match:
                    - gateways:
                        - istio-egressgateway
                      port: 443
                  route:
                    - destination:
                        host: tcp-echo.external
                        port:
                          number: 9000
            """);
        await using var mesh = await ConformanceMesh.StartAsync(yaml, new External("tcp-echo.external"));
        var gw = mesh.DumpedListener("gateway", "0.0.0.0_443");
        output.WriteLine(gw.GetRawText());
        Assert.Equal("envoy.filters.network.tcp_proxy", gw.GetProperty("filter_chains")[0].GetProperty("filters")[0].GetProperty("name").GetString());
    }

    // P14. A Sidecar whose egress hosts import only ./* hides a public TLS ServiceEntry of another namespace.
    [Fact]
    public async Task ASidecarsEgressHostsHideATlsServiceOfAnotherNamespace()
    {
        var yaml = """
            apiVersion: networking.istio.io/v1
            kind: ServiceEntry
            metadata:
              name: google
              namespace: other
            spec:
              hosts:
                - www.google.com
              location: MESH_EXTERNAL
              resolution: DNS
              ports:
                - number: 443
                  name: tls
                  protocol: TLS
            ---
            apiVersion: networking.istio.io/v1
            kind: Sidecar
            metadata:
              name: default
              namespace: demo
            spec:
              egress:
                - hosts:
                    - "./*"
                    - "istio-system/*"
            """;
        await using var mesh = await ConformanceMesh.StartAsync(yaml, new External("www.google.com", Tls: true));
        await Assert.ThrowsAsync<HttpRequestException>(() => AppHttps.GetAsync(mesh, "https://www.google.com/"));
        await AppHttps.TcpLineAsync(mesh, "cluster=BlackHoleCluster ");
    }

    // P15. listener.go buildListenerFromEntry: an outbound listener whose chains match on SNI has a tls_inspector
    // listener filter, traffic_direction OUTBOUND, bind_to_port false and a default_filter_chain PassthroughFilterChain.
    [Fact]
    public async Task TheOutboundTlsListenerDumpsAsIstiosDoes()
    {
        await using var mesh = await ConformanceMesh.StartAsync(ServiceEntry("www.google.com", (443, "TLS")), new External("www.google.com", Tls: true));
        var l = mesh.DumpedListener("sidecar", "0.0.0.0_443");
        output.WriteLine(l.GetRawText());
        Assert.True(l.TryGetProperty("listener_filters", out _), "listener_filters");
        Assert.True(l.TryGetProperty("default_filter_chain", out _), "default_filter_chain");
        Assert.True(l.TryGetProperty("traffic_direction", out _), "traffic_direction");
    }

    // P16. cluster_tls.go: a DestinationRule SIMPLE on a TCP port's host originates TLS for the TCP proxy's upstream
    // connection (the app speaks plain TCP, the server TLS) — Envoy's cluster transport_socket.
    [Fact]
    public async Task ADestinationRuleSimpleOriginatesTlsForATcpPort()
    {
        var yaml = Join(Se("tcp-echo", "tcp-echo.external", "    - number: 9000\n      name: tcp\n      protocol: TCP"), """
            apiVersion: networking.istio.io/v1
            kind: DestinationRule
            metadata:
              name: tcp-echo
            spec:
              host: tcp-echo.external
              trafficPolicy:
                tls:
                  mode: SIMPLE
            """);
        await using var mesh = await ConformanceMesh.StartAsync(yaml, new External("tcp-echo.external", Tls: true));
        output.WriteLine(mesh.DumpedCluster("sidecar", "outbound|9000||tcp-echo.external").GetRawText());
        using var client = new HttpClient(new SocketsHttpHandler
        {
            UseProxy = false,
            ConnectCallback = (context, ct) => AppHttps.InterceptedAsync(mesh, context.DnsEndPoint, ct),
        });
        using var response = await client.GetAsync("http://tcp-echo.external:9000/");
        var body = await response.Content.ReadAsStringAsync();
        output.WriteLine($"{(int)response.StatusCode} {body}");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.True(JsonSerializer.Deserialize<EchoRequest>(body)!.Tls);
    }
}
