using System.Buffers;
using System.IO.Pipelines;
using System.Net.Security;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Server.Kestrel.Core.Features;
using Microsoft.AspNetCore.Http.Features;

namespace Demo.EgressGateway.Mesh;

/// <summary>
/// What the egress gateway's listener does with a new connection before HTTP, as Envoy's active TCP listener does:
/// the <c>tls_inspector</c> listener filter reads the first bytes (<see cref="TlsInspector"/>); the filter chain is chosen
/// by <c>server_names</c> (the ClientHello's SNI) and <c>transport_protocol</c> (<c>tls</c> or <c>raw_buffer</c>); no
/// chain closes the connection (access log <c>NR</c>, <c>filter_chain_not_found</c>); a chain that terminates TLS runs
/// the server handshake with the gateway's mesh certificate — requiring the client's mesh certificate for
/// <c>ISTIO_MUTUAL</c>. The HTTP connection manager then gets the decrypted bytes and <see cref="DownstreamConnection"/>.
/// </summary>
/// <remarks>Envoy: <c>source/server/active_tcp_listener.cc</c>, <c>source/common/listener_manager/filter_chain_manager_impl.cc</c>,
/// <c>source/extensions/filters/listener/tls_inspector/tls_inspector.cc</c>; istiod's gateway chains:
/// <c>pilot/pkg/networking/core/gateway.go</c> (<c>buildGatewayListenerTLSContext</c>: ALPN h2, http/1.1).</remarks>
public sealed class GatewayConnectionHandler(
    MeshSnapshotProvider configs,
    MeshCertificateAuthority authority,
    IServiceProvider services,
    ILogger<GatewayConnectionHandler> logger)
{
    /// <summary>Envoy's default <c>listener_filters_timeout</c>: a connection that sends too little to decide is closed.</summary>
    public static readonly TimeSpan ListenerFiltersTimeout = TimeSpan.FromSeconds(15);

    // gateway.go: an HTTPS server's DownstreamTlsContext offers h2 and http/1.1 (util.ALPNHttp).
    private static readonly List<SslApplicationProtocol> GatewayAlpn = [SslApplicationProtocol.Http2, SslApplicationProtocol.Http11];

    /// <summary>
    /// Runs the listener filters and the filter-chain match for one connection on Service port <paramref name="port"/>,
    /// then hands it to the HTTP connection manager's codec as Envoy's codec_type AUTO picks it: <paramref name="http2"/>
    /// when TLS negotiated ALPN <c>h2</c> or clear text starts with the HTTP/2 connection preface, else
    /// <paramref name="http1"/>.
    /// </summary>
    public async Task OnConnectionAsync(ConnectionContext connection, int port, ConnectionDelegate http1, ConnectionDelegate http2)
    {
        var (inspection, hello) = await TlsInspector.InspectAsync(connection, logger);
        if (inspection == TlsInspection.NeedMoreData)
        {
            connection.Abort();
            return;
        }
        var transport = inspection == TlsInspection.Tls ? "tls" : "raw_buffer";
        var listener = configs.Current.Gateway.FindListener(port);
        if (listener?.Match(hello?.ServerName, transport) is not { } chain)
        {
            Log.FilterChainNotFound(logger, "gateway", hello?.ServerName ?? "-", port);
            connection.Abort();
            return;
        }
        if (chain.Chain is { TcpProxy: { } proxy, DownstreamTls: null })
        {
            // A PASSTHROUGH server's chain (gateway.go buildGatewayNetworkFiltersFromTLSRoutes): the bytes go on as they are.
            var cluster = proxy.PickCluster();
            await services.GetRequiredService<TcpProxyFilter>().ProxyAsync(connection, ActiveStream.Gateway, cluster,
                configs.Current.Gateway.FindCluster(cluster), (hello?.ServerName ?? "", port), hello?.ServerName);
            return;
        }
        if (inspection == TlsInspection.RawBuffer)
        {
            connection.Features.Set(new DownstreamConnection(port, null, transport, [], null, null));
            await (await StartsWithHttp2PrefaceAsync(connection) ? http2 : http1)(connection);
            return;
        }
        if (chain.Chain.DownstreamTls is null)
        {
            // A chain without a TLS context gets TLS bytes: the HTTP codec cannot parse them and closes the connection.
            Log.FilterChainNotFound(logger, "gateway", hello!.ServerName ?? "-", port);
            connection.Abort();
            return;
        }
        await TerminateTlsAsync(connection, port, hello!, chain.Chain, http1, http2);
    }

    // RFC 9113 §3.4: a client with prior knowledge starts with this preface (Envoy's codec AUTO compares the first
    // bytes with it: Http::Utility / conn_manager_impl createCodec).
    private static readonly byte[] Http2Preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"u8.ToArray();

    // Reads without consuming until the first bytes either are the preface or differ from it.
    private static async Task<bool> StartsWithHttp2PrefaceAsync(ConnectionContext connection)
    {
        var input = connection.Transport.Input;
        while (true)
        {
            var result = await input.ReadAsync(connection.ConnectionClosed);
            var buffer = result.Buffer;
            var length = (int)Math.Min(buffer.Length, Http2Preface.Length);
            var start = new byte[length];
            buffer.Slice(0, length).CopyTo(start);
            var matches = start.AsSpan().SequenceEqual(Http2Preface.AsSpan(0, length));
            if (!matches || length == Http2Preface.Length || result.IsCompleted)
            {
                input.AdvanceTo(buffer.Start);
                return matches && length == Http2Preface.Length;
            }
            input.AdvanceTo(buffer.Start, buffer.End);
        }
    }

    private async Task TerminateTlsAsync(ConnectionContext connection, int port, ClientHello hello, Envoy.FilterChain chain,
        ConnectionDelegate http1, ConnectionDelegate http2)
    {
        var tls = chain.DownstreamTls!;
        var manager = services.GetRequiredService<GatewayListenerManager>();
        var credentials = services.GetRequiredService<DownstreamTlsCredentials>();
        var gateway = configs.Current.Xds.Gateway;
        var served = credentials.ServerCertificate(gateway, tls,
            () => authority.WorkloadCertificateContext(manager.Namespace, GatewayListenerManager.ServiceAccount), out var missing);
        if (served is null)
        {
            // Envoy's not-ready secret: the listener's TLS context has no certificate, every handshake fails.
            Log.DownstreamHandshakeFailed(logger, hello.ServerName ?? "-", port, $"Secret is not supplied by SDS: {missing}");
            connection.Abort();
            return;
        }
        string? peer = null;
        string? refusal = null;
        var options = new SslServerAuthenticationOptions
        {
            ServerCertificateContext = served,
            CertificateChainPolicy = authority.ChainPolicy(),
            // A validation context asks the client for a certificate; require_client_certificate refuses a client
            // without one (ISTIO_MUTUAL, MUTUAL), otherwise (OPTIONAL_MUTUAL) none is accepted.
            ClientCertificateRequired = tls.ValidatesClient,
            // BoringSSL's server answers without ALPN when nothing the client offers is in its list (Envoy's
            // alpnSelectCallback: SSL_TLSEXT_ERR_NOACK); SslStream would fail the handshake instead, so it offers ALPN
            // only when there is a protocol in common.
            ApplicationProtocols = hello.ApplicationProtocols.Any(p => p is "h2" or "http/1.1") ? GatewayAlpn : null,
            RemoteCertificateValidationCallback = (_, certificate, x509Chain, errors) =>
            {
                if (certificate is null)
                {
                    refusal = "the client presented no certificate";
                    return tls.RequireClientCertificate != true;
                }
                if (!credentials.ValidateClient(gateway, tls, certificate, x509Chain, errors, out var identities, out var reason))
                {
                    refusal = reason;
                    return false;
                }
                peer = identities.FirstOrDefault();
                // The validation context's match_subject_alt_names (exact): a mesh certificate's one SAN is its identity.
                if (tls.MatchSubjectAltNames is { Count: > 0 } names && !identities.Any(i => names.Contains(i, StringComparer.Ordinal)))
                {
                    refusal = $"the client's identity {peer} is none of subjectAltNames [{string.Join(", ", names)}]";
                    return false;
                }
                return true;
            },
        };
        var ssl = new SslStream(new DuplexPipeStream(connection.Transport), leaveInnerStreamOpen: false);
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(connection.ConnectionClosed);
            timeout.CancelAfter(ListenerFiltersTimeout);
            await ssl.AuthenticateAsServerAsync(options, timeout.Token);
        }
        catch (Exception ex) when (ex is AuthenticationException or IOException or OperationCanceledException)
        {
            Log.DownstreamHandshakeFailed(logger, hello.ServerName ?? "-", port, refusal ?? ex.Message);
            await ssl.DisposeAsync();
            connection.Abort();
            return;
        }
        var alpn = ssl.NegotiatedApplicationProtocol;
        var features = new DownstreamTlsFeatures(ssl.RemoteCertificate as X509Certificate2, alpn.Protocol);
        connection.Features.Set<ITlsConnectionFeature>(features);
        connection.Features.Set<ITlsApplicationProtocolFeature>(features);
        connection.Features.Set(new DownstreamConnection(port, hello.ServerName, "tls", hello.ApplicationProtocols,
            alpn == default ? null : alpn.ToString(), peer) { LocalCertificate = ssl.LocalCertificate });
        var original = connection.Transport;
        connection.Transport = new SslDuplexPipe(PipeReader.Create(ssl), PipeWriter.Create(ssl));
        try
        {
            if (chain.TcpProxy is { } tcp)
            {
                // A TLS server that terminates TLS (gateway.go createGatewayTCPFilterChainOpts): the decrypted bytes go on.
                var cluster = tcp.PickCluster();
                await services.GetRequiredService<TcpProxyFilter>().ProxyAsync(connection, ActiveStream.Gateway, cluster,
                    configs.Current.Gateway.FindCluster(cluster), (hello.ServerName ?? "", port), hello.ServerName);
                return;
            }
            await (alpn == SslApplicationProtocol.Http2 ? http2 : http1)(connection);
        }
        finally
        {
            connection.Transport = original;
            await ssl.DisposeAsync();
        }
    }

    private sealed record SslDuplexPipe(PipeReader Input, PipeWriter Output) : IDuplexPipe;

    private sealed class DownstreamTlsFeatures(X509Certificate2? clientCertificate, ReadOnlyMemory<byte> protocol)
        : ITlsConnectionFeature, ITlsApplicationProtocolFeature
    {
        public X509Certificate2? ClientCertificate { get; set; } = clientCertificate;
        public ReadOnlyMemory<byte> ApplicationProtocol => protocol;
        public Task<X509Certificate2?> GetClientCertificateAsync(CancellationToken cancellationToken) => Task.FromResult(ClientCertificate);
    }
}

/// <summary>
/// What the gateway's listener learned about a downstream connection (Envoy's connection info): the Service port it
/// came in on, the SNI and ALPN list of its ClientHello, <c>tls</c> or <c>raw_buffer</c>, the negotiated ALPN and the
/// client's SPIFFE identity (<c>spiffe://cluster.local/ns/&lt;ns&gt;/sa/&lt;sa&gt;</c>) when it presented a mesh certificate.
/// </summary>
public sealed record DownstreamConnection(int Port, string? ServerName, string TransportProtocol,
    IReadOnlyList<string> OfferedApplicationProtocols, string? ApplicationProtocol, string? PeerIdentity)
{
    /// <summary>The certificate the listener served on this connection (its URI SANs are XFCC's <c>By</c>); null without TLS.</summary>
    public System.Security.Cryptography.X509Certificates.X509Certificate? LocalCertificate { get; init; }
}

/// <summary>A <see cref="Stream"/> over a connection's <see cref="IDuplexPipe"/>, for <see cref="SslStream"/> to run on.</summary>
internal sealed class DuplexPipeStream(IDuplexPipe pipe) : Stream
{
    private readonly Stream _input = pipe.Input.AsStream(leaveOpen: true);
    private readonly Stream _output = pipe.Output.AsStream(leaveOpen: true);

    public override bool CanRead => true;
    public override bool CanSeek => false;
    public override bool CanWrite => true;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
    public override void Flush() => _output.Flush();
    public override Task FlushAsync(CancellationToken cancellationToken) => _output.FlushAsync(cancellationToken);
    public override int Read(byte[] buffer, int offset, int count) => _input.Read(buffer, offset, count);
    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) => _input.ReadAsync(buffer, cancellationToken);
    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) => _input.ReadAsync(buffer, offset, count, cancellationToken);
    public override void Write(byte[] buffer, int offset, int count) => _output.Write(buffer, offset, count);
    public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default) => _output.WriteAsync(buffer, cancellationToken);
    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) => _output.WriteAsync(buffer, offset, count, cancellationToken);
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
}
