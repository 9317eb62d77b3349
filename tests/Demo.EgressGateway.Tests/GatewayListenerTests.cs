using System.Net.Http.Json;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json;
using Demo.EgressGateway.Mesh;

namespace Demo.EgressGateway.Tests;

/// <summary>
/// The egress gateway is a proxy of its own with real listeners: /status names them with the ports they listen on, and
/// a connection to the 443 listener meets what Istio's gateway does to it — the filter chain chosen by the ClientHello's
/// SNI, Istio's mTLS with the client's mesh certificate required (gateway.go: ISTIO_MUTUAL servers set
/// require_client_certificate), and a closed connection for an SNI no Gateway server lists (NR filter_chain_not_found).
/// </summary>
public sealed class GatewayListenerTests
{
    private const string Request = "GET / HTTP/1.1\r\nHost: " + GatewayHost.V1Host + "\r\nConnection: close\r\n\r\n";

    private static Task<GatewayHost> StartAsync() => GatewayHost.StartAsync(RoutingTests.NoFaults);

    [Fact]
    public async Task Status_lists_the_sidecars_and_the_gateways_listeners_with_the_ports_they_listen_on()
    {
        var (gateway, meshPort, adminPort) = await GatewayHost.StartOnOwnPortsAsync(RoutingTests.NoFaults);
        await using var _ = gateway;
        using var admin = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{adminPort}/") };

        var status = await admin.GetFromJsonAsync<JsonElement>("status");

        var proxies = status.GetProperty("proxies").EnumerateArray().ToDictionary(p => p.GetProperty("name").GetString()!, p => p.GetProperty("listeners"));
        Assert.Equal(["gateway", "sidecar"], proxies.Keys.Order(StringComparer.Ordinal));
        var sidecar80 = Assert.Single(proxies["sidecar"].EnumerateArray(), l => l.GetProperty("name").GetString() == "0.0.0.0_80");
        Assert.Equal(meshPort, sidecar80.GetProperty("port").GetInt32());
        Assert.Equal("HTTP", sidecar80.GetProperty("protocol").GetString());
        var gateway443 = Assert.Single(proxies["gateway"].EnumerateArray());
        Assert.Equal("0.0.0.0_443", gateway443.GetProperty("name").GetString());
        Assert.Equal("127.0.0.1", gateway443.GetProperty("address").GetString());
        Assert.Equal("TLS", gateway443.GetProperty("protocol").GetString());
        Assert.Equal(GatewayPort(gateway), gateway443.GetProperty("port").GetInt32());
        using var socket = new TcpClient();
        await socket.ConnectAsync("127.0.0.1", gateway443.GetProperty("port").GetInt32());
    }

    [Fact]
    public async Task The_gateway_listener_serves_a_client_with_a_mesh_certificate_and_the_servers_SNI()
    {
        await using var gateway = await StartAsync();
        var authority = gateway.Services.GetRequiredService<MeshCertificateAuthority>();

        var (answer, peer) = await ExchangeAsync(gateway, GatewayHost.V1Host, authority.WorkloadCertificate("demo", "proxy"));

        Assert.StartsWith("HTTP/1.1 200 ", answer, StringComparison.Ordinal);
        Assert.Contains("Hello K8s, from CF v1 service!", answer, StringComparison.Ordinal);
        // The gateway's certificate is its workload's, issued by the mesh CA (istiod's SPIFFE identity).
        Assert.Equal("spiffe://cluster.local/ns/istio-system/sa/istio-egressgateway-service-account", peer);
        Assert.Contains(gateway.Logs.Messages(), m => m.StartsWith("[gateway] \"GET / HTTP/1.1\" 200 ", StringComparison.Ordinal));
    }

    [Fact]
    public async Task The_gateway_listener_refuses_a_TLS_client_without_a_mesh_certificate()
    {
        await using var gateway = await StartAsync();
        using var foreign = new MeshCertificateAuthority(TimeProvider.System);

        var (none, _) = await ExchangeAsync(gateway, GatewayHost.V1Host, clientCertificate: null);
        var (other, _) = await ExchangeAsync(gateway, GatewayHost.V1Host, foreign.WorkloadCertificate("demo", "proxy"));

        Assert.StartsWith("refused", none, StringComparison.Ordinal);
        Assert.StartsWith("refused", other, StringComparison.Ordinal);
        Assert.Equal(0, gateway.Upstream.TotalHits);
        Assert.Contains(gateway.Logs.Messages(), m => m.Contains("downstream TLS handshake failed sni=" + GatewayHost.V1Host + " port=443: the client presented no certificate", StringComparison.Ordinal));
        Assert.Contains(gateway.Logs.Messages(), m => m.Contains("downstream TLS handshake failed sni=" + GatewayHost.V1Host + " port=443: not issued by the mesh CA", StringComparison.Ordinal));
    }

    [Fact]
    public async Task The_gateway_listener_closes_a_connection_whose_SNI_no_Gateway_server_lists()
    {
        await using var gateway = await StartAsync();
        var authority = gateway.Services.GetRequiredService<MeshCertificateAuthority>();

        var (answer, _) = await ExchangeAsync(gateway, "nobody.example.com", authority.WorkloadCertificate("demo", "proxy"));

        Assert.StartsWith("refused", answer, StringComparison.Ordinal);
        Assert.Contains(gateway.Logs.Messages(), m => m.StartsWith("[gateway] \"- - -\" 0 NR ", StringComparison.Ordinal)
            && m.Contains("details=filter_chain_not_found sni=nobody.example.com port=443", StringComparison.Ordinal));
        Assert.Equal(0, gateway.Upstream.TotalHits);
    }

    // listener.go BuildListenerTLSContext → ApplyToCommonTLSContext: an ISTIO_MUTUAL server's subjectAltNames become
    // the listener's exact match_subject_alt_names, so a mesh client whose SPIFFE identity is not listed is refused.
    [Fact]
    public async Task An_ISTIO_MUTUAL_server_with_subjectAltNames_accepts_only_the_client_identities_it_lists()
    {
        await using var gateway = await StartWithServerSubjectAltNameAsync("spiffe://cluster.local/ns/demo/sa/proxy");
        var authority = gateway.Services.GetRequiredService<MeshCertificateAuthority>();

        var (listed, _) = await ExchangeAsync(gateway, GatewayHost.V1Host, authority.WorkloadCertificate("demo", "proxy"));
        var (other, _) = await ExchangeAsync(gateway, GatewayHost.V1Host, authority.WorkloadCertificate("demo", "other"));

        Assert.StartsWith("HTTP/1.1 200 ", listed, StringComparison.Ordinal);
        Assert.StartsWith("refused", other, StringComparison.Ordinal);
        Assert.Equal(1, gateway.Upstream.TotalHits);
        Assert.Contains(gateway.Logs.Messages(), m => m.Contains("downstream TLS handshake failed sni=" + GatewayHost.V1Host
            + " port=443: the client's identity spiffe://cluster.local/ns/demo/sa/other is none of subjectAltNames [spiffe://cluster.local/ns/demo/sa/proxy]", StringComparison.Ordinal));
        // The sidecar's own identity is listed: the demo's path still answers.
        Assert.Equal(200, (await gateway.GetAsync()).Status);
    }

    // The same through the sidecar. In TLS 1.3 the client's handshake is over once it sends its Finished; the server
    // checks the client certificate after that, so the refusal reaches the sidecar as the connection closing under its
    // request: Envoy's reset reason connection termination (UC), which the demo's retryOn (5xx) retries: URX.
    [Fact]
    public async Task A_sidecar_whose_identity_a_gateway_servers_subjectAltNames_do_not_list_gets_503_UC()
    {
        await using var gateway = await StartWithServerSubjectAltNameAsync("spiffe://cluster.local/ns/demo/sa/someone-else");

        var (status, _) = await gateway.GetAsync();

        Assert.Equal(503, status);
        Assert.Equal(0, gateway.Upstream.TotalHits);
        Assert.Contains(gateway.Logs.Messages(), m => m.StartsWith("[sidecar] \"GET / HTTP/1.1\" 503 UC,URX attempts=3 ", StringComparison.Ordinal)
            && m.Contains("details=upstream_reset_before_response_started{connection_termination}", StringComparison.Ordinal));
        Assert.Contains(gateway.Logs.Messages(), m => m.Contains("the client's identity spiffe://cluster.local/ns/demo/sa/proxy is none of subjectAltNames", StringComparison.Ordinal));
    }

    private const string GatewayFile = "gateway-hello-cf-egress.yaml";

    // deploy/istio without faults, its Gateway server's ISTIO_MUTUAL listing one client identity.
    private static Task<GatewayHost> StartWithServerSubjectAltNameAsync(string identity) => GatewayHost.StartAsync(folder =>
    {
        RoutingTests.NoFaults(folder);
        folder.Replace(GatewayFile, "        mode: ISTIO_MUTUAL\n", $"        mode: ISTIO_MUTUAL\n        subjectAltNames:\n          - {identity}\n");
    });

    private static int GatewayPort(GatewayHost gateway) =>
        gateway.Services.GetRequiredService<GatewayListenerManager>().Endpoints[443].Port;

    /// <summary>
    /// A TLS client straight to the gateway's 443 listener, trusting the mesh CA: the HTTP answer to <see cref="Request"/>,
    /// or "refused: …" when the handshake or the first read fails (with TLS 1.3 a refused client certificate shows on
    /// the client's first read, not in its handshake); and the server's SPIFFE identity.
    /// </summary>
    private static async Task<(string Answer, string? Peer)> ExchangeAsync(GatewayHost gateway, string sni, X509Certificate2? clientCertificate)
    {
        var authority = gateway.Services.GetRequiredService<MeshCertificateAuthority>();
        using var client = new TcpClient();
        await client.ConnectAsync("127.0.0.1", GatewayPort(gateway));
        await using var ssl = new SslStream(client.GetStream());
        string? peer = null;
        try
        {
            await ssl.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
            {
                TargetHost = sni,
                ClientCertificates = clientCertificate is null ? null : [clientCertificate],
                ApplicationProtocols = [new SslApplicationProtocol("istio-peer-exchange"), new SslApplicationProtocol("istio")],
                CertificateRevocationCheckMode = X509RevocationMode.NoCheck,
                RemoteCertificateValidationCallback = (_, certificate, _, _) => authority.Validate(certificate as X509Certificate2, out peer, out _),
            });
            await ssl.WriteAsync(Encoding.ASCII.GetBytes(Request));
            using var reader = new StreamReader(ssl, Encoding.ASCII);
            var answer = await reader.ReadToEndAsync().WaitAsync(TimeSpan.FromSeconds(30));
            return (answer.Length == 0 ? "refused: closed without an answer" : answer, peer);
        }
        catch (Exception ex) when (ex is IOException or System.Security.Authentication.AuthenticationException)
        {
            return ($"refused: {ex.Message}", peer);
        }
    }
}
