using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Demo.EgressGateway.Tests;

/// <summary>
/// The sidecar's port reads the first bytes of each connection itself (a CONNECT stands for interception,
/// SidecarTunnel) before Kestrel's HTTP codec has it: the codec's limits hold there too — a connection that sends
/// nothing is closed after <c>KeepAliveTimeout</c>, a CONNECT head not complete within <c>RequestHeadersTimeout</c>.
/// </summary>
public sealed class SidecarTunnelTimeoutTests
{
    private static void ShortLimits(IServiceCollection services) =>
        services.Configure<Microsoft.AspNetCore.Server.Kestrel.Core.KestrelServerOptions>(kestrel =>
        {
            kestrel.Limits.KeepAliveTimeout = TimeSpan.FromSeconds(2);
            kestrel.Limits.RequestHeadersTimeout = TimeSpan.FromSeconds(1);
        });

    [Theory]
    [InlineData("", 2)]
    [InlineData("CONNECT hello-istio-v1.apps.example.com:443 HTTP/1.1\r\nHost: hello-istio-v1", 1)]
    [InlineData("CONN", 1)]
    public async Task A_connection_that_stalls_before_its_CONNECT_head_ends_is_closed_after_Kestrels_limit(string sent, int limitSeconds)
    {
        await using var gateway = await GatewayHost.StartAsync(services: ShortLimits);
        using var socket = new Socket(SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(new IPEndPoint(IPAddress.Loopback, gateway.Url.Port));
        await socket.SendAsync(Encoding.ASCII.GetBytes(sent));
        var elapsed = Stopwatch.StartNew();

        var buffer = new byte[1024];
        using var patience = new CancellationTokenSource(TimeSpan.FromSeconds(limitSeconds + 10));
        int read;
        try
        {
            read = await socket.ReceiveAsync(buffer, patience.Token);
        }
        catch (SocketException)
        {
            read = 0;
        }

        Assert.Equal(0, read);
        Assert.InRange(elapsed.Elapsed, TimeSpan.FromSeconds(limitSeconds - 0.5), TimeSpan.FromSeconds(limitSeconds + 8));
        Assert.Equal(0, gateway.Upstream.TotalHits);
    }
}
