using System.IO.Pipelines;
using System.Net.Security;
using System.Security.Authentication;
using System.Net.Sockets;
using Microsoft.AspNetCore.Connections;

namespace Demo.EgressGateway.Mesh;

/// <summary>
/// Envoy's <c>envoy.filters.network.tcp_proxy</c> (envoy <c>source/common/tcp_proxy/tcp_proxy.cc</c>): picks a host of
/// the chain's cluster (for an ORIGINAL_DST cluster, the destination the app dialled), connects within the cluster's
/// connect_timeout — with the cluster's TLS transport socket when it has one (a DestinationRule's SIMPLE, MUTUAL or
/// ISTIO_MUTUAL applies to TCP clusters too: the app's bytes, TLS or not, then travel inside it) —, then copies bytes
/// both ways until either side closes, half-close by half-close. A cluster the
/// proxy does not have, or with no host, closes the downstream connection (<c>NC</c>, <c>UH</c>); a failed connect too
/// (<c>UF</c>). Each connection ends with one access-log line: flags, cluster, SNI, upstream host and the bytes
/// received from and sent to the downstream (<c>%BYTES_RECEIVED%</c>, <c>%BYTES_SENT%</c>).
/// </summary>
public sealed class TcpProxyFilter(UpstreamClientFactory clients, ILogger<TcpProxyFilter> logger)
{
    /// <summary>
    /// Proxies <paramref name="downstream"/> (whose unread bytes, e.g. a peeked ClientHello, go first) to
    /// <paramref name="cluster"/>; returns when both directions have ended.
    /// </summary>
    /// <param name="stage"><c>sidecar</c> or <c>gateway</c>, for the access log.</param>
    /// <param name="clusterName">The TCP proxy's cluster (also when the proxy does not have it: <c>NC</c>).</param>
    /// <param name="destination">The destination the app dialled (CONNECT's authority): an ORIGINAL_DST cluster's host.</param>
    /// <param name="sni">The ClientHello's server name, for the access log; null: none.</param>
    public async Task ProxyAsync(ConnectionContext downstream, string stage, string clusterName, ClusterRuntime? cluster,
        (string Host, int Port) destination, string? sni)
    {
        var started = TimeProvider.System.GetTimestamp();
        var flags = ResponseFlags.None;
        var details = "-";
        var upstreamName = "-";
        long received = 0;
        long sent = 0;
        try
        {
            var host = cluster is null ? null
                : cluster.OriginalDestinationHost is not null ? cluster.OriginalDestination(destination.Host, destination.Port)
                : cluster.PickHost(null, avoidPrevious: false);
            if (cluster is null || host is null)
            {
                // The BlackHoleCluster is a cluster without hosts: no healthy upstream, as for any empty cluster.
                var notFound = cluster is null && clusterName != Envoy.IstioTranslator.BlackHoleCluster;
                flags = notFound ? ResponseFlags.NoClusterFound : ResponseFlags.NoHealthyUpstream;
                details = notFound ? "cluster_not_found" : "no_healthy_upstream";
                await CloseAsync(downstream);
                return;
            }
            upstreamName = $"{host.Endpoint.Address}:{host.Endpoint.PortValue}";
            using var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            try
            {
                using var connectTimeout = CancellationTokenSource.CreateLinkedTokenSource(downstream.ConnectionClosed);
                connectTimeout.CancelAfter(cluster.Config.ConnectTimeout);
                var target = await clients.ResolveAsync(host.Endpoint.Address, host.Endpoint.PortValue, connectTimeout.Token);
                await socket.ConnectAsync(target, connectTimeout.Token);
            }
            catch (Exception ex) when (ex is SocketException or OperationCanceledException)
            {
                flags = ResponseFlags.UpstreamConnectionFailure;
                details = "connect_failed";
                await CloseAsync(downstream);
                return;
            }
            Stream upstream = new NetworkStream(socket, ownsSocket: false);
            if (host.Transport is { } transport && clients.TlsOptions(transport, tcp: true) is { } tls)
            {
                if (transport.SecretNotSupplied)
                {
                    flags = ResponseFlags.UpstreamConnectionFailure;
                    details = "TLS error: Secret is not supplied by SDS";
                    await upstream.DisposeAsync();
                    await CloseAsync(downstream);
                    return;
                }
                var ssl = new SslStream(upstream, leaveInnerStreamOpen: false);
                try
                {
                    using var handshakeTimeout = CancellationTokenSource.CreateLinkedTokenSource(downstream.ConnectionClosed);
                    handshakeTimeout.CancelAfter(cluster.Config.ConnectTimeout);
                    await ssl.AuthenticateAsClientAsync(tls, handshakeTimeout.Token);
                }
                catch (Exception ex) when (ex is AuthenticationException or IOException or OperationCanceledException)
                {
                    flags = ResponseFlags.UpstreamConnectionFailure;
                    details = $"TLS error: {ex.Message}";
                    await ssl.DisposeAsync();
                    await CloseAsync(downstream);
                    return;
                }
                upstream = ssl;
            }
            await using var _ = upstream;
            // The downstream's FIN shuts the upstream socket's sending side (over TLS too, without a close_notify).
            var toUpstream = CopyAsync(downstream.Transport.Input, upstream, () => socket.Shutdown(SocketShutdown.Send), n => received += n);
            var toDownstream = CopyToPipeAsync(upstream, downstream.Transport.Output, n => sent += n);
            await Task.WhenAll(toUpstream, toDownstream);
        }
        finally
        {
            Log.TcpAccessLog(logger, stage, flags.ToEnvoyString(), clusterName, details, sni ?? "-", upstreamName, received, sent,
                TimeProvider.System.GetElapsedTime(started).TotalMilliseconds);
        }
    }

    // tcp_proxy.cc: no upstream — the downstream connection is closed (FIN), after what was already written to it.
    private static async Task CloseAsync(ConnectionContext downstream)
    {
        await downstream.Transport.Output.CompleteAsync();
        await downstream.Transport.Input.CompleteAsync();
    }

    // Downstream → upstream: every byte the downstream sends, then a half-close (FIN) when it has sent its last.
    private static async Task CopyAsync(PipeReader from, Stream to, Action halfClose, Action<long> count)
    {
        try
        {
            while (true)
            {
                var result = await from.ReadAsync();
                foreach (var segment in result.Buffer)
                {
                    await to.WriteAsync(segment);
                }
                count(result.Buffer.Length);
                from.AdvanceTo(result.Buffer.End);
                if (result.IsCompleted || result.IsCanceled)
                {
                    break;
                }
            }
            halfClose();
        }
        catch (Exception ex) when (ex is IOException or SocketException or ObjectDisposedException or ConnectionResetException)
        {
            // The other side reset: the copy the other way ends on its own.
        }
    }

    // Upstream → downstream: until the upstream's FIN, then the downstream's output completes (its FIN).
    private static async Task CopyToPipeAsync(Stream from, PipeWriter to, Action<long> count)
    {
        var buffer = new byte[16 * 1024];
        try
        {
            int read;
            while ((read = await from.ReadAsync(buffer)) > 0)
            {
                count(read);
                var flush = await to.WriteAsync(buffer.AsMemory(0, read));
                if (flush.IsCompleted)
                {
                    break;
                }
            }
        }
        catch (Exception ex) when (ex is IOException or SocketException or ObjectDisposedException)
        {
            // An upstream reset ends the copy; completing the output below closes the downstream.
        }
        await to.CompleteAsync();
    }
}
