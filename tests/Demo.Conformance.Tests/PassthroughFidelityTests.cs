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

/// <summary>
/// The app's own TLS and TCP through the two proxies, probed as a user would write the configuration, each against what
/// istiod writes and Envoy does (sources in each test): which chain takes a connection (tls.go
/// buildSidecarOutboundTLSFilterChainOpts, listener.go), what the TCP proxy does with the cluster's TLS, what a Gateway
/// server of each protocol and mode builds (gateway.go buildGatewayTCPBasedFilterChains), and what /config_dump shows.
/// </summary>
public sealed partial class PassthroughFidelityTests(ITestOutputHelper output)
{
    private static readonly Dictionary<string, string?> AllowAny = new() { ["EgressGateway:OutboundTrafficPolicy"] = "ALLOW_ANY" };

    private static string Se(string name, string host, string ports, string extra = "", string resolution = "DNS") => $"""
        apiVersion: networking.istio.io/v1
        kind: ServiceEntry
        metadata:
          name: {name}
        spec:
          hosts:
            - "{host}"
          location: MESH_EXTERNAL
          resolution: {resolution}
        {extra}
          ports:
        {ports}
        """;

    // The app's raw TLS through a CONNECT to connectHost:port; sni null: the TargetHost is an IP (no SNI sent).
    private static async Task<string> RawTlsGetAsync(ConformanceMesh mesh, string connectHost, int port, string targetHost, string hostHeader)
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        await using var stream = await AppHttps.InterceptedAsync(mesh, new DnsEndPoint(connectHost, port), cts.Token);
        await using var tls = new SslStream(stream);
        await tls.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
        {
            TargetHost = targetHost,
            RemoteCertificateValidationCallback = (_, _, _, _) => true,
            ApplicationProtocols = [SslApplicationProtocol.Http11],
        }, cts.Token);
        await tls.WriteAsync(Encoding.ASCII.GetBytes($"GET / HTTP/1.1\r\nHost: {hostHeader}\r\nConnection: close\r\n\r\n"), cts.Token);
        using var reader = new StreamReader(tls);
        return await reader.ReadToEndAsync(cts.Token);
    }

    private void Dump(ConformanceMesh mesh) => output.WriteLine(string.Join("\n", mesh.Logs));

    // P1. tls.go getConfigsForHost: a VS's tls routes count at the sidecar only for a service its hosts name.
    [Fact]
    public async Task TlsRouteOfAVsForAnUnregisteredHostIsIgnoredAtTheSidecar()
    {
        var yaml = Join(ServiceEntry("www.google.com", (443, "TLS")), """
            apiVersion: networking.istio.io/v1
            kind: VirtualService
            metadata:
              name: cnn
            spec:
              hosts:
                - edition.cnn.com
              tls:
                - match:
                    - port: 443
                      sniHosts:
                        - edition.cnn.com
                  route:
                    - destination:
                        host: www.google.com
                        port:
                          number: 443
            """);
        await using var mesh = await ConformanceMesh.StartAsync(yaml, new External("www.google.com", Tls: true), new External("edition.cnn.com", Tls: true));
        var listener = mesh.DumpedListener("sidecar", "0.0.0.0_443").GetRawText();
        output.WriteLine(listener);
        var ex = await Record.ExceptionAsync(() => AppHttps.GetAsync(mesh, "https://edition.cnn.com/"));
        Dump(mesh);
        Assert.DoesNotContain("\"edition.cnn.com\"", listener);
        Assert.NotNull(ex);
    }

    // P2. tls.go buildSidecarOutboundTLSFilterChainOpts: hasTLSMatch → no default chain for the service host.
    [Fact]
    public async Task ATlsMatchForAnotherSniReplacesTheServicesOwnChain()
    {
        var yaml = Join(ServiceEntry("a.example.com", (443, "TLS")), """
            apiVersion: networking.istio.io/v1
            kind: VirtualService
            metadata:
              name: ab
            spec:
              hosts:
                - a.example.com
                - b.example.com
              tls:
                - match:
                    - port: 443
                      sniHosts:
                        - b.example.com
                  route:
                    - destination:
                        host: a.example.com
                        port:
                          number: 443
            """);
        await using var mesh = await ConformanceMesh.StartAsync(yaml, new External("a.example.com", Tls: true));
        var listener = mesh.DumpedListener("sidecar", "0.0.0.0_443").GetRawText();
        output.WriteLine(listener);
        Assert.Equal("a", (await AppHttps.GetAsync(mesh, "https://b.example.com/")).Hostname);
        var ex = await Record.ExceptionAsync(() => AppHttps.GetAsync(mesh, "https://a.example.com/"));
        Dump(mesh);
        Assert.NotNull(ex);
    }

    // P3. listener.go / tls.go: a TLS service with an address (a VIP) gets a chain matched by that destination address,
    // with no server_names — the app's TLS to the address reaches the service whatever its SNI says. (The app here
    // sends an SNI: the echo upstream needs one to pick its certificate; Istio's chain does not look at it.)
    [Fact]
    public async Task ATlsServiceEntryWithAnAddressTakesTheAppsTlsToThatIpWithoutSni()
    {
        var yaml = Se("db", "db.internal", "    - number: 443\n      name: tls\n      protocol: TLS", "  addresses:\n    - 10.20.30.40");
        await using var mesh = await ConformanceMesh.StartAsync(yaml, new External("db.internal", Tls: true));
        output.WriteLine(mesh.DumpedListener("sidecar", "0.0.0.0_443").GetRawText());
        var ex = await Record.ExceptionAsync(async () => output.WriteLine(await RawTlsGetAsync(mesh, "10.20.30.40", 443, "any-name.example", "db.internal")));
        Dump(mesh);
        Assert.Null(ex);
        await AppHttps.TcpLineAsync(mesh, "cluster=outbound|443||db.internal ");
    }

    // P4. cluster_tls.go: a DestinationRule's tls SIMPLE applies to the cluster whatever the port's protocol; on an
    // HTTPS/TLS port the app's own TLS is then wrapped in Envoy's (TLS in TLS) and the app's handshake fails.
    [Fact]
    public async Task ADestinationRuleSimpleOnATlsPortWrapsTheAppsOwnTls()
    {
        var yaml = Join(ServiceEntry("www.google.com", (443, "HTTPS")), """
            apiVersion: networking.istio.io/v1
            kind: DestinationRule
            metadata:
              name: google
            spec:
              host: www.google.com
              trafficPolicy:
                tls:
                  mode: SIMPLE
            """);
        await using var mesh = await ConformanceMesh.StartAsync(yaml, new External("www.google.com", Tls: true));
        var cluster = mesh.DumpedCluster("sidecar", "outbound|443||www.google.com").GetRawText();
        output.WriteLine(cluster);
        Assert.Contains("transport_socket", cluster);
        var ex = await Record.ExceptionAsync(() => AppHttps.GetAsync(mesh, "https://www.google.com/"));
        Dump(mesh);
        Assert.NotNull(ex);
    }

    // P5. networkfilter.go buildOutboundNetworkFiltersWithWeightedClusters: stat_prefix "<vs>.<ns>", weighted clusters;
    // each connection picks one.
    [Fact]
    public async Task AWeightedTlsRouteSplitsConnectionsAndDumpsIstiosStatPrefix()
    {
        var yaml = Join(ServiceEntry("api.example.com", (443, "TLS")), ServiceEntry("api2.example.com", (443, "TLS")), """
            apiVersion: networking.istio.io/v1
            kind: VirtualService
            metadata:
              name: api-split
            spec:
              hosts:
                - api.example.com
              tls:
                - match:
                    - port: 443
                      sniHosts:
                        - api.example.com
                  route:
                    - destination:
                        host: api.example.com
                        port:
                          number: 443
                      weight: 50
                    - destination:
                        host: api2.example.com
                        port:
                          number: 443
                      weight: 50
            """);
        await using var mesh = await ConformanceMesh.StartAsync(yaml, new External("api.example.com", Tls: true), new External("api2.example.com", Tls: true));
        var listener = mesh.DumpedListener("sidecar", "0.0.0.0_443");
        output.WriteLine(listener.GetRawText());
        var names = new List<string>();
        for (var i = 0; i < 16; i++)
        {
            names.Add((await AppHttps.GetAsync(mesh, "https://api.example.com/")).Hostname);
        }
        output.WriteLine(string.Join(",", names));
        Assert.Contains("api", names);
        Assert.Contains("api2", names);
        var chain = listener.GetProperty("filter_chains").EnumerateArray()
            .Single(c => c.GetProperty("filter_chain_match").TryGetProperty("server_names", out var s) && s[0].GetString() == "api.example.com");
        var tcp = chain.GetProperty("filters")[0].GetProperty("typed_config");
        Assert.Equal(2, tcp.GetProperty("weighted_clusters").GetProperty("clusters").GetArrayLength());
        Assert.Equal("api-split.demo", tcp.GetProperty("stat_prefix").GetString());
    }

    // P6. CONNECT to an IP literal: REGISTRY_ONLY → BlackHole; ALLOW_ANY → PassthroughCluster to that IP.
    [Fact]
    public async Task AnIpLiteralUnderRegistryOnlyIsClosed()
    {
        await using var mesh = await ConformanceMesh.StartAsync(ServiceEntry("registered.example.com"), new External("10.9.8.7", Tls: true));
        await Assert.ThrowsAnyAsync<Exception>(() => RawTlsGetAsync(mesh, "10.9.8.7", 443, "10.9.8.7", "10.9.8.7"));
        await AppHttps.TcpLineAsync(mesh, "cluster=BlackHoleCluster ");
        Assert.Equal(0, mesh.Echo("10.9.8.7").Count);
    }

    // listener.go: under ALLOW_ANY the PassthroughFilterChain sends it to the PassthroughCluster, the address dialled.
    [Fact]
    public async Task AnIpLiteralUnderAllowAnyPassesThrough()
    {
        await using var mesh = await ConformanceMesh.StartAsync(ServiceEntry("registered.example.com"), AllowAny, new External("10.9.8.7", Tls: true));
        // The echo cannot serve a certificate without SNI (harness limit); only the sidecar's decision is checked.
        await Record.ExceptionAsync(() => RawTlsGetAsync(mesh, "10.9.8.7", 443, "10.9.8.7", "10.9.8.7"));
        var line = await AppHttps.TcpLineAsync(mesh, "cluster=PassthroughCluster ");
        Assert.Contains("upstream=10.9.8.7:443 ", line);
        Assert.DoesNotContain("bytes_received=0 ", line);
    }

    // P7. listener.go mergeTCPFilterChains: two TCP services without addresses on one port conflict; the first in
    // Istio's service order (creation time, then hostname) keeps the chain — alpha even though beta is first in the file.
    [Fact]
    public async Task TwoTcpServicesWithoutAddressesOnOnePortTheFirstByHostnameWins()
    {
        var yaml = Join(
            Se("beta", "beta.tcp", "    - number: 9000\n      name: tcp\n      protocol: TCP"),
            Se("alpha", "alpha.tcp", "    - number: 9000\n      name: tcp\n      protocol: TCP"));
        await using var mesh = await ConformanceMesh.StartAsync(yaml, new External("alpha.tcp"), new External("beta.tcp"));
        output.WriteLine(mesh.DumpedListener("sidecar", "0.0.0.0_9000").GetRawText());
        using var client = new HttpClient(new SocketsHttpHandler
        {
            UseProxy = false,
            ConnectCallback = (context, ct) => AppHttps.InterceptedAsync(mesh, context.DnsEndPoint, ct),
        });
        var body = await client.GetStringAsync("http://beta.tcp:9000/");
        Dump(mesh);
        Assert.Equal("alpha", JsonSerializer.Deserialize<EchoRequest>(body)!.Hostname);
        Assert.Single(mesh.DumpedListener("sidecar", "0.0.0.0_9000").GetProperty("filter_chains").EnumerateArray());
    }
}
