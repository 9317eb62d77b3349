using static Demo.Conformance.Tests.MeshYaml;

namespace Demo.Conformance.Tests;

/// <summary>
/// The app's own HTTPS, as istio.io's egress tasks replay it (istio/istio.io content/en/docs/tasks/traffic-management/
/// egress: egress-control "Access an external HTTPS service" and the ALLOW_ANY / REGISTRY_ONLY steps, wildcard-egress-hosts
/// "Configure direct traffic to a wildcard host"): the sidecar's outbound listener for port 443 picks a filter chain by
/// the ClientHello's SNI and its TCP proxy passes the bytes through (listener.go, tcp.go); an SNI no ServiceEntry
/// registers is closed under REGISTRY_ONLY (curl's exit 35 in the task) and passed to its original destination under
/// ALLOW_ANY. Locally the app's connection reaches the sidecar as CONNECT (SidecarTunnel); the app's TLS ends at the
/// external host, whose certificate it verifies itself.
/// </summary>
public sealed class EgressHttpsTaskTests
{
    private const string Google = "www.google.com";

    private static readonly Dictionary<string, string?> AllowAny = new() { ["EgressGateway:OutboundTrafficPolicy"] = "ALLOW_ANY" };

    // egress-control: ServiceEntry "google", www.google.com, port 443 https HTTPS, resolution DNS, MESH_EXTERNAL.
    [Fact]
    public async Task AServiceEntryHttpsPortPassesTheAppsOwnTlsThroughBySni()
    {
        await using var mesh = await ConformanceMesh.StartAsync(ServiceEntry(Google, (443, "HTTPS")), new External(Google, Tls: true));

        var echo = await AppHttps.GetAsync(mesh, $"https://{Google}/");

        Assert.Equal(Google, echo.Host);
        Assert.True(echo.Tls);
        Assert.Equal(Google, echo.Sni);
        var line = await AppHttps.TcpLineAsync(mesh, $"cluster=outbound|443||{Google} ");
        Assert.Contains("[sidecar] \"- - -\" 0 - ", line, StringComparison.Ordinal);
        Assert.Contains($"sni={Google} ", line, StringComparison.Ordinal);
        Assert.DoesNotContain(" bytes_received=0 ", line, StringComparison.Ordinal);
        Assert.DoesNotContain(" bytes_sent=0 ", line, StringComparison.Ordinal);
        var chain = mesh.DumpedListener("sidecar", "0.0.0.0_443").GetProperty("filter_chains").EnumerateArray()
            .Single(c => c.GetProperty("filter_chain_match").GetProperty("server_names")[0].GetString() == Google);
        var tcpProxy = chain.GetProperty("filters")[0];
        Assert.Equal("envoy.filters.network.tcp_proxy", tcpProxy.GetProperty("name").GetString());
        Assert.Equal($"outbound|443||{Google}", tcpProxy.GetProperty("typed_config").GetProperty("cluster").GetString());
    }

    // egress-control, REGISTRY_ONLY before the ServiceEntry: "command terminated with exit code 35" (the TLS handshake fails).
    [Fact]
    public async Task RegistryOnlyClosesTheAppsTlsToAnUnregisteredHost()
    {
        await using var mesh = await ConformanceMesh.StartAsync(ServiceEntry("registered.example.com"), new External(Google, Tls: true));

        await Assert.ThrowsAsync<HttpRequestException>(() => AppHttps.GetAsync(mesh, $"https://{Google}/"));

        var line = await AppHttps.TcpLineAsync(mesh, "cluster=BlackHoleCluster ");
        Assert.Contains($"sni={Google} ", line, StringComparison.Ordinal);
        Assert.Equal(0, mesh.Echo(Google).Count);
    }

    // egress-control, ALLOW_ANY: "curl -sSI https://www.google.com | grep HTTP/" → 200.
    [Fact]
    public async Task AllowAnyPassesAnUnregisteredHostsTlsToItsOriginalDestination()
    {
        await using var mesh = await ConformanceMesh.StartAsync(ServiceEntry("registered.example.com"), AllowAny, new External(Google, Tls: true));

        var echo = await AppHttps.GetAsync(mesh, $"https://{Google}/");

        Assert.Equal(Google, echo.Sni);
        Assert.Contains($"sni={Google} ", await AppHttps.TcpLineAsync(mesh, "cluster=PassthroughCluster "), StringComparison.Ordinal);
    }

    // wildcard-egress-hosts, "Configure direct traffic to a wildcard host": ServiceEntry *.wikipedia.org, port 443 TLS,
    // resolution NONE; en.wikipedia.org and de.wikipedia.org both answer, through one cluster.
    [Fact]
    public async Task AWildcardServiceEntryPassesEachNamesTlsToWhereTheAppDialled()
    {
        const string yaml = """
            apiVersion: networking.istio.io/v1
            kind: ServiceEntry
            metadata:
              name: wikipedia
            spec:
              hosts:
                - "*.wikipedia.org"
              ports:
                - number: 443
                  name: tls
                  protocol: TLS
            """;
        await using var mesh = await ConformanceMesh.StartAsync(yaml, new External("en.wikipedia.org", Tls: true), new External("de.wikipedia.org", Tls: true));

        Assert.Equal("en", (await AppHttps.GetAsync(mesh, "https://en.wikipedia.org/wiki/Main_Page")).Hostname);
        Assert.Equal("de", (await AppHttps.GetAsync(mesh, "https://de.wikipedia.org/wiki/Wikipedia:Hauptseite")).Hostname);
        Assert.Contains("sni=de.wikipedia.org ", await AppHttps.TcpLineAsync(mesh, "cluster=outbound|443||*.wikipedia.org ", count: 2), StringComparison.Ordinal);
        Assert.Equal("ORIGINAL_DST", mesh.DumpedCluster("sidecar", "outbound|443||*.wikipedia.org").GetProperty("type").GetString());
    }
}
