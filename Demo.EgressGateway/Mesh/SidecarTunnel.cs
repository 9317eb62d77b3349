using System.Buffers;
using System.Text;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Options;

namespace Demo.EgressGateway.Mesh;

/// <summary>
/// What stands locally for Istio's traffic interception: in a pod, iptables sends the app's connection to
/// <c>host:443</c> to the sidecar's outbound listener for port 443; here the app reaches its sidecar as an HTTP proxy,
/// so that connection arrives as <c>CONNECT host:443</c>. The sidecar answers <c>200</c> (the app's connect succeeded,
/// as under iptables), then treats the tunnelled bytes as the intercepted connection: the <c>tls_inspector</c> reads the
/// ClientHello, the listener of the CONNECT port picks its filter chain by SNI, and a TCP proxy chain sends the bytes
/// on as they are (<see cref="TcpProxyFilter"/>). TLS no chain takes goes to the virtual outbound listener's
/// PassthroughCluster under ALLOW_ANY and is closed under REGISTRY_ONLY (BlackHoleCluster: the app's handshake fails,
/// curl's exit 35 in istio.io's egress-control task); plain text goes to the HTTP connection manager, as a plain HTTP
/// request to the sidecar does. A connection that does not start with CONNECT is HTTP, unchanged. Before the HTTP
/// codec has the connection, the limits it would apply hold here too: a connection that sends nothing is closed after
/// Kestrel's <c>KeepAliveTimeout</c>, a CONNECT head not complete within <c>RequestHeadersTimeout</c> is closed.
/// </summary>
/// <remarks>Istio: <c>pilot/pkg/networking/core/listener.go</c> (outbound listeners, virtual outbound listener
/// <c>PassthroughFilterChain</c> / <c>BlackHoleCluster</c>), <c>tcp.go</c>; Envoy: <c>tls_inspector.cc</c>,
/// <c>filter_chain_manager_impl.cc</c>.</remarks>
public sealed class SidecarTunnel(MeshSnapshotProvider configs, TcpProxyFilter tcpProxy, IOptions<KestrelServerOptions> kestrel,
    ILogger<SidecarTunnel> logger)
{
    /// <summary>The longest CONNECT request head read (Envoy's default max_request_headers_kb is 60).</summary>
    public const int MaxHeadSize = 60 * 1024;

    private static readonly byte[] ConnectMethod = "CONNECT "u8.ToArray();
    private static readonly byte[] EndOfHead = "\r\n\r\n"u8.ToArray();
    private static readonly byte[] Established = "HTTP/1.1 200 OK\r\n\r\n"u8.ToArray();
    private static readonly byte[] BadRequest = "HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"u8.ToArray();

    /// <summary>
    /// Runs on each new connection to the sidecar's port: a CONNECT is taken here; anything else goes to
    /// <paramref name="http"/> (Kestrel's HTTP/1.1 codec) with nothing consumed.
    /// </summary>
    public async Task OnConnectionAsync(ConnectionContext connection, ConnectionDelegate http)
    {
        bool isConnect;
        (string Host, int Port)? destination;
        var limits = kestrel.Value.Limits;
        using (var deadline = CancellationTokenSource.CreateLinkedTokenSource(connection.ConnectionClosed))
        {
            try
            {
                (isConnect, destination) = await ReadConnectAsync(connection, deadline, limits.KeepAliveTimeout, limits.RequestHeadersTimeout);
            }
            catch (OperationCanceledException) when (!connection.ConnectionClosed.IsCancellationRequested)
            {
                connection.Abort(new ConnectionAbortedException("The CONNECT head was not received in time."));
                return;
            }
        }
        if (!isConnect)
        {
            await http(connection);
            return;
        }
        if (destination is not var (host, port))
        {
            // Refused with 400: not a CONNECT this proxy can tunnel.
            return;
        }
        await connection.Transport.Output.WriteAsync(Established, connection.ConnectionClosed);
        var (inspection, hello) = await TlsInspector.InspectAsync(connection, logger);
        if (inspection == TlsInspection.NeedMoreData)
        {
            connection.Abort();
            return;
        }
        var sidecar = configs.Current.Sidecar;
        // The address the app connected to: an IP as it is, a name as Istio's DNS proxy answers it (NameTable).
        var address = System.Net.IPAddress.TryParse(host, out var ip) ? ip : sidecar.Config.NameTable?.Resolve(host);
        var listener = sidecar.FindListener(port);
        if (inspection == TlsInspection.RawBuffer)
        {
            if (listener?.Match(null, "raw_buffer", address) is { Chain.TcpProxy: { } tcp })
            {
                // A TCP service's chain (an http-proxy task's corporate proxy): the bytes go on as they are.
                var tcpCluster = tcp.PickCluster();
                await tcpProxy.ProxyAsync(connection, ActiveStream.Sidecar, tcpCluster, sidecar.FindCluster(tcpCluster), (host, port), null);
                return;
            }
            // Plain text through the tunnel: the HTTP listener of the port, as an intercepted HTTP connection.
            await http(connection);
            return;
        }
        if (listener?.Match(hello!.ServerName, "tls", address) is { Chain.TcpProxy: { } proxy })
        {
            var cluster = proxy.PickCluster();
            await tcpProxy.ProxyAsync(connection, ActiveStream.Sidecar, cluster, sidecar.FindCluster(cluster), (host, port), hello.ServerName);
            return;
        }
        if (sidecar.Passthrough is not null)
        {
            // ALLOW_ANY: the virtual outbound listener's PassthroughFilterChain, a TCP proxy to the original destination.
            var passthrough = Envoy.IstioTranslator.PassthroughCluster;
            await tcpProxy.ProxyAsync(connection, ActiveStream.Sidecar, passthrough, sidecar.FindCluster(passthrough), (host, port), hello!.ServerName);
            return;
        }
        // REGISTRY_ONLY: the virtual outbound listener's default chain, a TCP proxy to the BlackHoleCluster (no hosts).
        await tcpProxy.ProxyAsync(connection, ActiveStream.Sidecar, Envoy.IstioTranslator.BlackHoleCluster, null, (host, port), hello!.ServerName);
    }

    // Not a CONNECT: nothing consumed. A CONNECT: its head consumed and its authority parsed, or — refused with 400, or
    // the connection ended — no destination.
    private static async Task<(bool IsConnect, (string Host, int Port)? Destination)> ReadConnectAsync(ConnectionContext connection,
        CancellationTokenSource deadline, TimeSpan firstBytesTimeout, TimeSpan headTimeout)
    {
        var input = connection.Transport.Input;
        var start = new byte[ConnectMethod.Length];
        deadline.CancelAfter(firstBytesTimeout);
        var started = false;
        while (true)
        {
            var result = await input.ReadAsync(deadline.Token);
            if (!started && !result.Buffer.IsEmpty)
            {
                started = true;
                deadline.CancelAfter(headTimeout);
            }
            var buffer = result.Buffer;
            var length = (int)Math.Min(buffer.Length, ConnectMethod.Length);
            buffer.Slice(0, length).CopyTo(start);
            if (!start.AsSpan(0, length).SequenceEqual(ConnectMethod.AsSpan(0, length)) || (result.IsCompleted && length < ConnectMethod.Length))
            {
                input.AdvanceTo(buffer.Start);
                return (false, null);
            }
            if (length == ConnectMethod.Length)
            {
                input.AdvanceTo(buffer.Start);
                break;
            }
            input.AdvanceTo(buffer.Start, buffer.End);
        }
        while (true)
        {
            var result = await input.ReadAsync(deadline.Token);
            var buffer = result.Buffer;
            var reader = new SequenceReader<byte>(buffer);
            if (reader.TryReadTo(out ReadOnlySequence<byte> head, EndOfHead, advancePastDelimiter: true))
            {
                var line = Encoding.ASCII.GetString(head).Split("\r\n")[0];
                input.AdvanceTo(reader.Position);
                if (ParseAuthority(line) is { } destination)
                {
                    return (true, destination);
                }
                await Refuse(connection);
                return (true, null);
            }
            if (buffer.Length > MaxHeadSize || result.IsCompleted)
            {
                input.AdvanceTo(buffer.Start, buffer.End);
                await Refuse(connection);
                return (true, null);
            }
            input.AdvanceTo(buffer.Start, buffer.End);
        }
    }

    private static async Task Refuse(ConnectionContext connection)
    {
        await connection.Transport.Output.WriteAsync(BadRequest);
        await connection.Transport.Output.CompleteAsync();
    }

    // "CONNECT host:port HTTP/1.1": RFC 9110 §9.3.6 authority-form, a port required; [v6]:port for an IPv6 literal.
    private static (string Host, int Port)? ParseAuthority(string requestLine)
    {
        var parts = requestLine.Split(' ');
        if (parts is not ["CONNECT", var authority, "HTTP/1.1" or "HTTP/1.0"])
        {
            return null;
        }
        var colon = authority.LastIndexOf(':');
        if (colon <= 0 || !int.TryParse(authority.AsSpan(colon + 1), System.Globalization.NumberStyles.None, null, out var port) || port is < 1 or > 65535)
        {
            return null;
        }
        var host = authority[..colon];
        if (host.StartsWith('[') && host.EndsWith(']'))
        {
            host = host[1..^1];
        }
        return host.Length == 0 || host.Contains('/') || host.Contains('@') ? null : (host, port);
    }
}
