using System.Collections.Concurrent;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;

namespace Demo.Conformance.Tests;

/// <summary>
/// istio.io's http-proxy task, "Using an External HTTPS Proxy" (content/en/docs/tasks/traffic-management/egress/
/// http-proxy): the app's own proxy (Squid there) is a TCP ServiceEntry — <c>hosts: my-company-proxy.com</c>,
/// <c>addresses: [$PROXY_IP/32]</c>, port 3128 <c>protocol: TCP</c> —, and the app's connection to it goes through the
/// sidecar's TCP proxy as it is; the app's CONNECT to en.wikipedia.org:443 and its TLS ride inside. The task checks the
/// sidecar's log: <c>"- - -" 0 - … outbound|3128||my-company-proxy.com</c>. Locally the app reaches the sidecar by
/// CONNECT (interception), so its HTTPS_PROXY connection is a CONNECT to the proxy's address, tunnelled by the TCP chain
/// whose prefix_ranges hold that address.
/// </summary>
public sealed class HttpProxyTaskTests
{
    [Fact]
    public async Task TheAppsConnectionToItsHttpsProxyPassesThroughTheSidecarsTcpProxy()
    {
        ConformanceMesh? started = null;
        await using var squid = await CorporateProxy.StartAsync(host => started!.Echo(host).HttpsPort);
        var yaml = $"""
            apiVersion: networking.istio.io/v1
            kind: ServiceEntry
            metadata:
              name: proxy
            spec:
              hosts:
                - my-company-proxy.com
              addresses:
                - 127.0.0.1/32
              ports:
                - number: {squid.Port}
                  name: tcp
                  protocol: TCP
              location: MESH_EXTERNAL
            """;
        await using var mesh = started = await ConformanceMesh.StartAsync(yaml, new External("en.wikipedia.org", Tls: true));

        // HTTPS_PROXY=$PROXY_IP:$PROXY_PORT curl https://en.wikipedia.org/wiki/Main_Page
        using var client = new HttpClient(new SocketsHttpHandler
        {
            Proxy = new WebProxy($"http://127.0.0.1:{squid.Port}"),
            UseProxy = true,
            SslOptions = new SslClientAuthenticationOptions { RemoteCertificateValidationCallback = AppHttps.TrustTestCa },
            ConnectCallback = (context, cancellationToken) => AppHttps.InterceptedAsync(mesh, context.DnsEndPoint, cancellationToken),
        });
        using var response = await client.GetAsync("https://en.wikipedia.org/wiki/Main_Page");
        var echo = JsonSerializer.Deserialize<EchoRequest>(await response.Content.ReadAsStringAsync())!;
        client.Dispose();

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("en", echo.Hostname);
        Assert.Equal("en.wikipedia.org", echo.Sni);
        Assert.Contains("CONNECT en.wikipedia.org:443", squid.Requests);
        var line = await AppHttps.TcpLineAsync(mesh, $"cluster=outbound|{squid.Port}||my-company-proxy.com ");
        Assert.Contains("[sidecar] \"- - -\" 0 - ", line, StringComparison.Ordinal);
        Assert.Contains($"upstream=127.0.0.1:{squid.Port} ", line, StringComparison.Ordinal);
    }

    // A stand-in for the task's Squid, outside the mesh: answers CONNECT host:port with 200 and tunnels to the echo
    // upstream of that host (its own name resolution), recording each request line.
    private sealed class CorporateProxy : IAsyncDisposable
    {
        private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
        private readonly CancellationTokenSource _stop = new();
        private readonly Func<string, int> _resolve;
        private Task _accepting = Task.CompletedTask;

        private CorporateProxy(Func<string, int> resolve) => _resolve = resolve;

        public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

        public ConcurrentBag<string> Requests { get; } = [];

        public static Task<CorporateProxy> StartAsync(Func<string, int> resolve)
        {
            var proxy = new CorporateProxy(resolve);
            proxy._listener.Start();
            proxy._accepting = proxy.AcceptAsync();
            return Task.FromResult(proxy);
        }

        private async Task AcceptAsync()
        {
            while (!_stop.IsCancellationRequested)
            {
                TcpClient client;
                try
                {
                    client = await _listener.AcceptTcpClientAsync(_stop.Token);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
                _ = TunnelAsync(client);
            }
        }

        private async Task TunnelAsync(TcpClient client)
        {
            using (client)
            {
                var downstream = client.GetStream();
                var requestLine = (await AppHttps.ReadHeadAsync(downstream, _stop.Token)).Split("\r\n")[0];
                Requests.Add(string.Join(' ', requestLine.Split(' ').Take(2)));
                var host = requestLine.Split(' ')[1].Split(':')[0];
                using var upstream = new TcpClient();
                await upstream.ConnectAsync(IPAddress.Loopback, _resolve(host), _stop.Token);
                await downstream.WriteAsync("HTTP/1.1 200 Connection established\r\n\r\n"u8.ToArray(), _stop.Token);
                var up = upstream.GetStream();
                await Task.WhenAny(downstream.CopyToAsync(up, _stop.Token), up.CopyToAsync(downstream, _stop.Token));
            }
        }

        public async ValueTask DisposeAsync()
        {
            await _stop.CancelAsync();
            _listener.Stop();
            await _accepting;
            _stop.Dispose();
        }
    }
}
