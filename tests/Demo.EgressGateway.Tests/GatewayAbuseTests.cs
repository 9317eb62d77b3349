using System.Net;
using System.Text;

namespace Demo.EgressGateway.Tests;

/// <summary>One gateway (faults off) and one canary listener for all the abuse tests of a class.</summary>
public sealed class AbuseFixture : IAsyncLifetime
{
    public GatewayHost Gateway { get; private set; } = null!;
    public CanaryListener Canary { get; } = new();

    public int Port => Gateway.Url.Port;

    public async ValueTask InitializeAsync() => Gateway = await GatewayHost.StartAsync(RoutingTests.NoFaults);

    public async ValueTask DisposeAsync()
    {
        await Gateway.DisposeAsync();
        await Canary.DisposeAsync();
    }
}

/// <summary>
/// Requests no well-behaved client sends, over raw sockets: each gets a clear 4xx (or, for a host no ServiceEntry
/// registers, Istio's block_all 502 on an HTTP port and the BlackHoleCluster's closed connection on any other port),
/// and nothing reaches a host that is not registered — the upstream sees only the registered CF hosts, and a canary
/// listener on another local port sees no connection.
/// </summary>
public sealed class GatewayAbuseTests(AbuseFixture fixture, ITestOutputHelper output) : IClassFixture<AbuseFixture>
{
    private const string Registered = "hello.external";
    private static readonly string[] RegisteredUpstreamHosts = [GatewayHost.V1Host, GatewayHost.V2Host];

    private GatewayHost Gateway => fixture.Gateway;
    private int Canary => fixture.Canary.Port;

    /// <summary>A connection closed without an HTTP answer: what Envoy's BlackHoleCluster (a TCP proxy with no endpoint) does.</summary>
    private const int Closed = 0;

    private async Task<RawHttp.Answer> ExpectAsync(string name, string request, params int[] expected)
    {
        var hitsBefore = Gateway.Upstream.TotalHits;
        var answer = await RawHttp.SendAsync(fixture.Port, request);
        output.WriteLine($"{name}: {answer.Status?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "none"}");
        Assert.True(expected.Contains(answer.Status ?? Closed),
            $"{name}: expected {string.Join(" or ", expected.Select(e => e == Closed ? "a closed connection" : e.ToString(System.Globalization.CultureInfo.InvariantCulture)))}, got {answer}");
        if (answer.Status is null or >= 400)
        {
            Assert.True(Gateway.Upstream.TotalHits == hitsBefore, $"{name}: the upstream was called");
        }
        AssertNothingElseReached();
        return answer;
    }

    private void AssertNothingElseReached()
    {
        Assert.True(fixture.Canary.Connections.IsEmpty, $"the canary was reached: {string.Join(" | ", fixture.Canary.Connections)}");
        Assert.All(Gateway.Upstream.Requests, r => Assert.Contains(r.Host, RegisteredUpstreamHosts));
        // A refused connection to the egress gateway's own Service (a port it has no server on) is a real connection
        // attempt to a registered, in-mesh host; any other connect failure is a host that must not be tried.
        Assert.DoesNotContain(Gateway.Logs.Messages(), m => m.Contains("Upstream connect failure", StringComparison.Ordinal)
            && !m.Contains("||istio-egressgateway.istio-system.svc.cluster.local:", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Oversized_requests_get_431_or_414_and_reach_nobody()
    {
        await ExpectAsync("64 KiB header",
            $"GET http://{Registered}/ HTTP/1.1\r\nHost: {Registered}\r\nX-Big: {new string('a', 64 * 1024)}\r\nConnection: close\r\n\r\n", 431);
        var many = new StringBuilder();
        for (var i = 0; i < 200; i++)
        {
            many.Append($"X-Header-{i}: {i}\r\n");
        }
        await ExpectAsync("200 headers", $"GET http://{Registered}/ HTTP/1.1\r\nHost: {Registered}\r\n{many}Connection: close\r\n\r\n", 431);
        await ExpectAsync("20 KiB request line",
            $"GET http://{Registered}/{new string('a', 20 * 1024)} HTTP/1.1\r\nHost: {Registered}\r\nConnection: close\r\n\r\n", 414);
        await ExpectAsync("64 KiB Host",
            $"GET / HTTP/1.1\r\nHost: {new string('h', 64 * 1024)}.external\r\nConnection: close\r\n\r\n", 431);
    }

    [Fact]
    public async Task Malformed_request_lines_get_400_and_reach_nobody()
    {
        await ExpectAsync("not HTTP", "HELLO\r\n\r\n", 400);
        await ExpectAsync("method only", "GET\r\n\r\n", 400);
        await ExpectAsync("no version", $"GET http://{Registered}/\r\n\r\n", 400);
        await ExpectAsync("double space", $"GET  http://{Registered}/ HTTP/1.1\r\nHost: {Registered}\r\n\r\n", 400);
        await ExpectAsync("control character in target", $"GET http://{Registered}/\u0001 HTTP/1.1\r\nHost: {Registered}\r\n\r\n", 400);
        await ExpectAsync("space in host", $"GET / HTTP/1.1\r\nHost: hello external\r\n\r\n", 400);
        // RFC 9112 lets a server accept a bare LF as a line end (Kestrel and Envoy do): served, or refused.
        await ExpectAsync("bare LF", $"GET http://{Registered}/ HTTP/1.1\nHost: {Registered}\nConnection: close\n\n", 200, 400);
        await ExpectAsync("HTTP/1.1 without Host", "GET / HTTP/1.1\r\nConnection: close\r\n\r\n", 400);
        await ExpectAsync("two Host headers", $"GET / HTTP/1.1\r\nHost: {Registered}\r\nHost: 127.0.0.1:{Canary}\r\n\r\n", 400);
        await ExpectAsync("header without colon", $"GET / HTTP/1.1\r\nHost: {Registered}\r\nBroken header\r\n\r\n", 400);
        await ExpectAsync("unknown HTTP version", $"GET / HTTP/9.9\r\nHost: {Registered}\r\n\r\n", 400, 505);
        // RFC 9112: Transfer-Encoding wins over Content-Length (Kestrel drops the latter and closes afterwards); a
        // registered host gets the (empty, chunked) request or it is refused — nothing goes anywhere else.
        await ExpectAsync("Content-Length and Transfer-Encoding",
            $"POST / HTTP/1.1\r\nHost: {Registered}\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 200, 400);

        var garbage = new byte[512];
        new Random(6).NextBytes(garbage);
        var answer = await RawHttp.SendAsync(fixture.Port, garbage);
        Assert.True(answer.Status is null or 400, $"random bytes: {answer}");
        AssertNothingElseReached();
    }

    [Fact]
    public async Task Absolute_URIs_and_Hosts_that_no_ServiceEntry_registers_get_block_all_or_the_BlackHoleCluster()
    {
        // Port 80 has an HTTP listener (hello.external): an unknown Host there meets block_all, 502 with no flag.
        await ExpectAsync("absolute URI, unregistered host", "GET http://evil.example.com/ HTTP/1.1\r\nHost: evil.example.com\r\nConnection: close\r\n\r\n", 502);
        // The absolute name (trailing dot) is the service's own from Istio 1.27 (istio/istio#56008: its virtual host
        // lists "hello.external." too; up to 1.26 it met block_all — VersionedIstioFidelityTests covers both sides).
        await ExpectAsync("registered name, trailing dot", $"GET http://{Registered}./ HTTP/1.1\r\nHost: {Registered}.\r\nConnection: close\r\n\r\n", 200);
        await ExpectAsync("the CF host itself, past the sidecar's routes", $"GET http://{GatewayHost.V1Host}/ HTTP/1.1\r\nHost: {GatewayHost.V1Host}\r\nConnection: close\r\n\r\n", 502);
        Assert.Contains(Gateway.Logs.Messages(), m => m.Contains(" 502 - attempts=0 route=block_all cluster=BlackHoleCluster authority=evil.example.com ", StringComparison.Ordinal));

        // Ports with no HTTP listener in the app's sidecar: the connection goes to the BlackHoleCluster and is closed.
        await ExpectAsync("absolute URI to a local port", $"GET http://127.0.0.1:{Canary}/ HTTP/1.1\r\nHost: 127.0.0.1:{Canary}\r\nConnection: close\r\n\r\n", Closed);
        await ExpectAsync("absolute URI to localhost", $"GET http://localhost:{Canary}/ HTTP/1.1\r\nHost: localhost:{Canary}\r\nConnection: close\r\n\r\n", Closed);
        await ExpectAsync("Host of a local port", $"GET / HTTP/1.1\r\nHost: 127.0.0.1:{Canary}\r\nConnection: close\r\n\r\n", Closed);
        await ExpectAsync("Host of the upstream's port", $"GET / HTTP/1.1\r\nHost: 127.0.0.1:{Gateway.Upstream.Port}\r\nConnection: close\r\n\r\n", Closed);

        // Port 443 in the app's namespace is the egress gateway Service's HTTPS port (TLS passthrough, no HTTP
        // routes); the CF hosts' ServiceEntry is exported only to the gateway's namespace, so plain HTTP from the
        // app straight to a CF host on 443 is blocked, as in the cluster.
        await ExpectAsync("registered name, unregistered port", $"GET http://{Registered}:443/ HTTP/1.1\r\nHost: {Registered}:443\r\nConnection: close\r\n\r\n", Closed);
        await ExpectAsync("the CF host on its HTTPS port, in plain HTTP", $"GET http://{GatewayHost.V1Host}:443/ HTTP/1.1\r\nHost: {GatewayHost.V1Host}:443\r\nConnection: close\r\n\r\n", Closed);
        Assert.Contains(Gateway.Logs.Messages(), m => m.Contains(" 0 UH attempts=0 route=- cluster=BlackHoleCluster ", StringComparison.Ordinal));

        // The egress gateway Service's port 80 (http2) is registered, but the gateway has no server on 80: the
        // sidecar's connection is refused — 503 UF after Istio's default retries.
        await ExpectAsync("the egress gateway service", "GET http://istio-egressgateway.istio-system.svc.cluster.local/ HTTP/1.1\r\nHost: istio-egressgateway.istio-system.svc.cluster.local\r\nConnection: close\r\n\r\n", 503);
    }

    [Fact]
    public async Task Host_and_forwarded_host_games_never_change_the_destination()
    {
        // Absolute-form and a Host that disagrees: refused, whichever of the two is the registered one.
        await ExpectAsync("registered absolute URI, Host elsewhere", $"GET http://{Registered}/ HTTP/1.1\r\nHost: 127.0.0.1:{Canary}\r\nConnection: close\r\n\r\n", 400);
        await ExpectAsync("absolute URI elsewhere, registered Host", $"GET http://127.0.0.1:{Canary}/ HTTP/1.1\r\nHost: {Registered}\r\nConnection: close\r\n\r\n", 400);
        await ExpectAsync("userinfo in the absolute URI", $"GET http://{Registered}@127.0.0.1:{Canary}/ HTTP/1.1\r\nHost: 127.0.0.1:{Canary}\r\nConnection: close\r\n\r\n", 400, Closed);
        await ExpectAsync("userinfo in Host", $"GET / HTTP/1.1\r\nHost: {Registered}@127.0.0.1:{Canary}\r\nConnection: close\r\n\r\n", 400);

        // X-Forwarded-Host, Forwarded, X-Original-Host, :authority as a header: ignored, the Host decides.
        foreach (var header in new[] { "X-Forwarded-Host", "X-Original-Host", "X-Host", ":authority" })
        {
            await ExpectAsync($"{header} elsewhere, registered Host",
                $"GET / HTTP/1.1\r\nHost: {Registered}\r\n{header}: 127.0.0.1:{Canary}\r\nConnection: close\r\n\r\n", 200, 400);
            await ExpectAsync($"{header} registered, Host elsewhere",
                $"GET / HTTP/1.1\r\nHost: evil.example.com\r\n{header}: {Registered}\r\nConnection: close\r\n\r\n", 502, 400);
        }
        await ExpectAsync("Forwarded host elsewhere", $"GET / HTTP/1.1\r\nHost: {Registered}\r\nForwarded: host=127.0.0.1:{Canary}\r\nConnection: close\r\n\r\n", 200);
        await ExpectAsync("Forwarded host registered, Host elsewhere", $"GET / HTTP/1.1\r\nHost: evil.example.com\r\nForwarded: host={Registered}\r\nConnection: close\r\n\r\n", 502);
    }

    [Fact]
    public async Task Path_tricks_stay_on_the_registered_host()
    {
        foreach (var path in new[] { $"//127.0.0.1:{Canary}/", $"/@127.0.0.1:{Canary}", $"/%2F%2F127.0.0.1:{Canary}/", $"/..%2F..%2F127.0.0.1:{Canary}", "/?url=http://127.0.0.1:" + Canary })
        {
            var answer = await ExpectAsync($"path {path}", $"GET http://{Registered}{path} HTTP/1.1\r\nHost: {Registered}\r\nConnection: close\r\n\r\n", 200, 400, 404);
            Assert.True(answer.Status != 200 || answer.Text.Contains("Hello K8s, from CF v", StringComparison.Ordinal), answer.Text);
        }
    }

    [Fact]
    public async Task CONNECT_stands_for_interception_and_reaches_no_unregistered_port()
    {
        // SidecarTunnel: locally a CONNECT is the app's intercepted connection — accepted (200, the app's connect
        // succeeded), then the tunnelled bytes go where the sidecar's outbound listener for that port sends them. Under
        // the demo's REGISTRY_ONLY a port nothing registers is the BlackHoleCluster: the connection is closed — reset at
        // once by the HTTP listener, which can overtake the 200 on the wire (as a closed connection overtakes a
        // successful connect for an app under iptables): either way, nothing is reached.
        foreach (var (name, authority) in new[]
        {
            ("a local port", $"127.0.0.1:{Canary}"),
            ("the upstream's port", $"127.0.0.1:{Gateway.Upstream.Port}"),
            ("a CF host's TLS port, in plain text", $"{GatewayHost.V1Host}:443"),
        })
        {
            var answer = await ExpectAsync($"CONNECT to {name}, then a request", $"CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n\r\nGET / HTTP/1.1\r\nHost: {authority}\r\n\r\n", 200, Closed);
            Assert.DoesNotContain("Hello K8s", answer.Text, StringComparison.Ordinal);
        }
        // Not a CONNECT any tunnel can be made of (RFC 9110 §9.3.6: authority-form with a port).
        await ExpectAsync("CONNECT without a port", "CONNECT example.com HTTP/1.1\r\nHost: example.com\r\n\r\n", 400);
        await ExpectAsync("CONNECT to a path", "CONNECT /etc/passwd HTTP/1.1\r\nHost: example.com\r\n\r\n", 400);
    }

    [Fact]
    public async Task HTTP2_authority_games_reach_no_unregistered_host()
    {
        // The mesh listener is cleartext and speaks HTTP/1.1 only (Kestrel cannot serve HTTP/1.1 and h2c prior
        // knowledge on one cleartext port; Envoy's AUTO codec would, and route :authority like a Host): every h2c
        // connection is refused, and no :authority gets anywhere.
        var hitsBefore = Gateway.Upstream.TotalHits;
        using var client = new HttpClient(new SocketsHttpHandler { UseProxy = false }) { Timeout = TimeSpan.FromSeconds(10) };
        foreach (var authority in new[] { "evil.example.com", $"127.0.0.1:{Canary}", GatewayHost.V1Host })
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, $"http://127.0.0.1:{fixture.Port}/")
            {
                Version = HttpVersion.Version20,
                VersionPolicy = HttpVersionPolicy.RequestVersionExact,
            };
            request.Headers.Host = authority;
            var refused = await Assert.ThrowsAsync<HttpRequestException>(() => client.SendAsync(request));
            output.WriteLine($"h2c :authority {authority}: refused ({refused.Message})");
        }
        Assert.Equal(hitsBefore, Gateway.Upstream.TotalHits);
        AssertNothingElseReached();
    }
}
