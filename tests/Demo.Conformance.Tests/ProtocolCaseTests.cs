using System.Net.Sockets;
using System.Text;
using static Demo.Conformance.Tests.MeshYaml;

namespace Demo.Conformance.Tests;

/// <summary>Istio's protocolSniffingCases (tests/integration/pilot/common/routing.go) that concern an HTTP port.</summary>
public sealed class ProtocolCaseTests
{
    // Istio case "http10 to http": an HTTP/1.0 request to a port declared HTTP goes through Envoy's HTTP connection
    // manager, which refuses HTTP/1.0 unless accept_http_10 is set (Istio does not set it by default):
    // "HTTP/1.1 426 Upgrade Required".
    [Fact]
    public async Task Http10RequestToHttpPortGets426UpgradeRequired()
    {
        await using var mesh = await ConformanceMesh.StartAsync(Base(), new External(B));
        using var client = new TcpClient();
        await client.ConnectAsync(mesh.Url.Host, mesh.Url.Port);
        var stream = client.GetStream();
        await stream.WriteAsync(Encoding.ASCII.GetBytes($"GET http://{B}/ HTTP/1.0\r\nHost: {B}\r\n\r\n"));

        using var reader = new StreamReader(stream, Encoding.ASCII);
        var statusLine = await reader.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(10));

        Assert.Equal("HTTP/1.1 426 Upgrade Required", statusLine);
        Assert.Equal(0, mesh.Echo(B).Count);
    }
}
