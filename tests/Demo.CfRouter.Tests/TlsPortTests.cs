using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Text;
using Demo.CfRouter;

namespace Demo.CfRouter.Tests;

/// <summary>
/// The HTTPS port as gorouter's Go server runs it: TLS 1.2 unless <c>max_tls_version: TLSv1.3</c> (config/config.go),
/// and plain HTTP answered with Go's 400 (net/http server.go, <c>tlsRecordHeaderLooksLikeHTTP</c>).
/// </summary>
public sealed class TlsPortTests
{
    [Theory]
    [InlineData("GET / HTTP/1.1\r\nHost: hello.apps.example.com\r\n\r\n")]
    [InlineData("POST / HTTP/1.1\r\nHost: hello.apps.example.com\r\nContent-Length: 0\r\n\r\n")]
    [InlineData("OPTIONS * HTTP/1.1\r\nHost: hello.apps.example.com\r\n\r\n")]
    public async Task Plain_HTTP_on_the_TLS_port_gets_Gos_400(string request)
    {
        await using var router = await RouterHost.StartAsync();
        using var socket = new Socket(SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(new IPEndPoint(IPAddress.Loopback, router.HttpsPort));
        await socket.SendAsync(Encoding.ASCII.GetBytes(request));

        var answer = new MemoryStream();
        var buffer = new byte[4096];
        using var patience = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        for (int read; (read = await socket.ReceiveAsync(buffer, patience.Token)) > 0;)
        {
            answer.Write(buffer, 0, read);
        }

        Assert.Equal(Encoding.ASCII.GetString(PlainHttpOnTlsPort.Answer), Encoding.ASCII.GetString(answer.ToArray()));
        Assert.Equal("HTTP/1.0 400 Bad Request\r\n\r\nClient sent an HTTP request to an HTTPS server.\n", Encoding.ASCII.GetString(answer.ToArray()));
    }

    [Theory]
    [InlineData(null, SslProtocols.Tls12)]
    [InlineData("TLSv1.3", SslProtocols.Tls13)]
    public async Task The_port_speaks_up_to_max_tls_version(string? maxTlsVersion, SslProtocols negotiated)
    {
        await using var router = await RouterHost.StartAsync(maxTlsVersion is null ? null : new() { ["CfRouter:MaxTlsVersion"] = maxTlsVersion });
        using var client = new TcpClient();
        await client.ConnectAsync(IPAddress.Loopback, router.HttpsPort);
        await using var tls = new SslStream(client.GetStream());

        await tls.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
        {
            TargetHost = "hello.apps.example.com",
            RemoteCertificateValidationCallback = (_, _, _, _) => true,
        });

        Assert.Equal(negotiated, tls.SslProtocol);
    }

    [Fact]
    public async Task An_unknown_max_tls_version_is_refused_with_gorouters_message()
    {
        var error = await Assert.ThrowsAnyAsync<Exception>(() => RouterHost.StartAsync(new() { ["CfRouter:MaxTlsVersion"] = "TLSv1.4" }));

        Assert.Contains("router.max_tls_version should be one of \"TLSv1.2\" or \"TLSv1.3\"", error.ToString(), StringComparison.Ordinal);
    }
}
