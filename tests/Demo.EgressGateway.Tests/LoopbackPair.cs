using System.Net;
using System.Net.Sockets;

namespace Demo.EgressGateway.Tests;

/// <summary>Two ends of one TCP connection on 127.0.0.1 (a listener on port 0, closed once the connection is accepted).</summary>
internal static class LoopbackPair
{
    /// <returns>The connecting end and the accepted end; the caller disposes both.</returns>
    public static async Task<(TcpClient Client, TcpClient Accepted)> ConnectAsync()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var client = new TcpClient();
        var accepting = listener.AcceptTcpClientAsync();
        await client.ConnectAsync(IPAddress.Loopback, ((IPEndPoint)listener.LocalEndpoint).Port);
        return (client, await accepting);
    }
}
