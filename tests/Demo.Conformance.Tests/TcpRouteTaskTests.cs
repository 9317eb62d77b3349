using System.Net;
using System.Text.Json;
using static Demo.Conformance.Tests.MeshYaml;

namespace Demo.Conformance.Tests;

/// <summary>
/// VirtualService <c>tcp</c> routes, as istio.io's tcp-traffic-shifting task uses them (content/en/docs/tasks/
/// traffic-management/tcp-traffic-shifting: subsets v1/v2 of tcp-echo, a tcp route with weights), here for an external
/// TCP service: the sidecar's chain for the TCP port is a TCP proxy to the route's destinations, each connection to one
/// by weight (tcp.go buildOutboundNetworkFilters, weighted_clusters); a Gateway server of protocol TCP takes the tcp
/// route bound to it (gateway.go buildGatewayTCPBasedFilterChains).
/// </summary>
public sealed class TcpRouteTaskTests
{
    private const string TcpEcho = "tcp-echo.external";

    private static readonly External[] Versions = [new("v1.tcp-echo.internal"), new("v2.tcp-echo.internal")];

    private static readonly string Service = $"""
        apiVersion: networking.istio.io/v1
        kind: ServiceEntry
        metadata:
          name: tcp-echo
        spec:
          hosts:
            - {TcpEcho}
          location: MESH_EXTERNAL
          resolution: DNS
          ports:
            - number: 9000
              name: tcp
              protocol: TCP
          endpoints:
            - address: v1.tcp-echo.internal
              labels:
                version: v1
            - address: v2.tcp-echo.internal
              labels:
                version: v2
        ---
        apiVersion: networking.istio.io/v1
        kind: DestinationRule
        metadata:
          name: tcp-echo
        spec:
          host: {TcpEcho}
          subsets:
            - name: v1
              labels:
                version: v1
            - name: v2
              labels:
                version: v2
        """;

    // tcp-traffic-shifting: "weight: 100" to one subset sends every connection there; a zero weight none.
    [Fact]
    public async Task ATcpRouteSendsEachConnectionToItsWeightedSubset()
    {
        await using var mesh = await ConformanceMesh.StartAsync(Join(Service, $"""
            apiVersion: networking.istio.io/v1
            kind: VirtualService
            metadata:
              name: tcp-echo
            spec:
              hosts:
                - {TcpEcho}
              tcp:
                - match:
                    - port: 9000
                  route:
                    - destination:
                        host: {TcpEcho}
                        port:
                          number: 9000
                        subset: v1
                      weight: 0
                    - destination:
                        host: {TcpEcho}
                        port:
                          number: 9000
                        subset: v2
                      weight: 100
            """), Versions);

        for (var i = 0; i < 3; i++)
        {
            Assert.Equal("v2", (await GetThroughTcpAsync(mesh)).Hostname);
        }
        Assert.Equal(0, mesh.Echo("v1.tcp-echo.internal").Count);
        await AppHttps.TcpLineAsync(mesh, $"cluster=outbound|9000|v2|{TcpEcho} ", count: 3);
    }

    // Without a VirtualService the TCP port's chain goes to the service's own cluster, over its endpoints.
    [Fact]
    public async Task WithoutARouteTheTcpPortGoesToTheServicesCluster()
    {
        await using var mesh = await ConformanceMesh.StartAsync(Service, Versions);

        Assert.Contains((await GetThroughTcpAsync(mesh)).Hostname, new[] { "v1", "v2" });
        await AppHttps.TcpLineAsync(mesh, $"cluster=outbound|9000||{TcpEcho} ");
    }

    // A Gateway server of protocol TCP on the gateway's Service port 443, and one VirtualService whose tcp routes send
    // the mesh's connections to the gateway and the gateway's to subset v1.
    [Fact]
    public async Task ATcpServerOfTheEgressGatewayTakesTheTcpRouteBoundToIt()
    {
        await using var mesh = await ConformanceMesh.StartAsync(Join(Service, $"""
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
                    name: tcp
                    protocol: TCP
                  hosts:
                    - {TcpEcho}
            ---
            apiVersion: networking.istio.io/v1
            kind: DestinationRule
            metadata:
              name: egressgateway-for-tcp-echo
            spec:
              host: {ConformanceMesh.EgressGatewayService}
              subsets:
                - name: tcp-echo
            ---
            apiVersion: networking.istio.io/v1
            kind: VirtualService
            metadata:
              name: tcp-echo-through-egress-gateway
            spec:
              hosts:
                - {TcpEcho}
              gateways:
                - mesh
                - istio-egressgateway
              tcp:
                - match:
                    - gateways:
                        - mesh
                      port: 9000
                  route:
                    - destination:
                        host: {ConformanceMesh.EgressGatewayService}
                        subset: tcp-echo
                        port:
                          number: 443
                - match:
                    - gateways:
                        - istio-egressgateway
                      port: 443
                  route:
                    - destination:
                        host: {TcpEcho}
                        subset: v1
                        port:
                          number: 9000
            """), Versions);

        Assert.Equal("v1", (await GetThroughTcpAsync(mesh)).Hostname);
        await AppHttps.TcpLineAsync(mesh, $"cluster=outbound|443|tcp-echo|{ConformanceMesh.EgressGatewayService} ");
        await AppHttps.TcpLineAsync(mesh, $"cluster=outbound|9000|v1|{TcpEcho} ", stage: "gateway");
    }

    // The app's plain connection to tcp-echo.external:9000 (intercepted: a CONNECT to its sidecar), one request on it.
    private static async Task<EchoRequest> GetThroughTcpAsync(ConformanceMesh mesh)
    {
        using var client = new HttpClient(new SocketsHttpHandler
        {
            UseProxy = false,
            ConnectCallback = (context, cancellationToken) => AppHttps.InterceptedAsync(mesh, context.DnsEndPoint, cancellationToken),
        });
        using var response = await client.GetAsync($"http://{TcpEcho}:9000/");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return JsonSerializer.Deserialize<EchoRequest>(await response.Content.ReadAsStringAsync())!;
    }
}
