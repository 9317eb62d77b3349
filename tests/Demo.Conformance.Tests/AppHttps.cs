using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json;

namespace Demo.Conformance.Tests;

/// <summary>The app's own HTTPS through its sidecar (CONNECT, then TLS to the external host), and the TCP proxy's log lines.</summary>
public static class AppHttps
{
    // An app's HTTPS client, whose proxy is the sidecar and which trusts the test CA the echo hosts' certificates come
    // from: a new connection per call, closed after it, so the TCP proxy's access-log line is written.
    public static async Task<EchoRequest> GetAsync(ConformanceMesh mesh, string url)
    {
        using var client = new HttpClient(new SocketsHttpHandler
        {
            Proxy = new WebProxy(mesh.Url),
            UseProxy = true,
            SslOptions = new SslClientAuthenticationOptions { RemoteCertificateValidationCallback = TrustTestCa },
        })
        { Timeout = TimeSpan.FromSeconds(20) };
        using var response = await client.GetAsync(url);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return JsonSerializer.Deserialize<EchoRequest>(await response.Content.ReadAsStringAsync())!;
    }

    public static bool TrustTestCa(object sender, X509Certificate? certificate, X509Chain? chain, SslPolicyErrors errors)
    {
        if (certificate is not X509Certificate2 server || (errors & ~SslPolicyErrors.RemoteCertificateChainErrors) != SslPolicyErrors.None)
        {
            return false;
        }
        using var custom = new X509Chain();
        custom.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        custom.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        custom.ChainPolicy.CustomTrustStore.Add(TestCa.Certificate);
        return custom.Build(server);
    }

    // The TCP proxy logs when the connection ends, just after the client has closed it: waits up to 5 s for the
    // count-th TCP line of the stage containing the text.
    public static async Task<string> TcpLineAsync(ConformanceMesh mesh, string text, int count = 1, string stage = "sidecar")
    {
        var deadline = DateTime.UtcNow.AddSeconds(5);
        while (true)
        {
            var lines = mesh.Logs.Where(l => l.StartsWith($"[{stage}] \"- - -\"", StringComparison.Ordinal) && l.Contains(text, StringComparison.Ordinal)).ToList();
            if (lines.Count >= count)
            {
                return lines[count - 1];
            }
            if (DateTime.UtcNow > deadline)
            {
                throw new Xunit.Sdk.XunitException($"no {stage} TCP line with '{text}' (×{count}) in:\n{string.Join('\n', mesh.Logs)}");
            }
            await Task.Delay(50);
        }
    }

    // What iptables does with the app's connect(): the connection reaches the sidecar; locally, a CONNECT to it.
    public static async ValueTask<Stream> InterceptedAsync(ConformanceMesh mesh, DnsEndPoint destination, CancellationToken cancellationToken)
    {
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        await socket.ConnectAsync(IPAddress.Loopback, mesh.Url.Port, cancellationToken);
        var stream = new NetworkStream(socket, ownsSocket: true);
        await stream.WriteAsync(Encoding.ASCII.GetBytes($"CONNECT {destination.Host}:{destination.Port} HTTP/1.1\r\nHost: {destination.Host}:{destination.Port}\r\n\r\n"), cancellationToken);
        var head = await ReadHeadAsync(stream, cancellationToken);
        Assert.StartsWith("HTTP/1.1 200", head, StringComparison.Ordinal);
        return stream;
    }

    // An HTTP head, byte by byte up to its blank line (nothing after it is read).
    public static async Task<string> ReadHeadAsync(Stream stream, CancellationToken cancellationToken)
    {
        var head = new StringBuilder();
        var one = new byte[1];
        while (!head.ToString().EndsWith("\r\n\r\n", StringComparison.Ordinal))
        {
            if (await stream.ReadAsync(one, cancellationToken) == 0)
            {
                throw new IOException($"the connection ended inside the head: {head}");
            }
            head.Append((char)one[0]);
        }
        return head.ToString();
    }
}
