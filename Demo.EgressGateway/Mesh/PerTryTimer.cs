using Polly.Timeout;

namespace Demo.EgressGateway.Mesh;

/// <summary>
/// The per-try timeout of one upstream request, armed as Envoy's router arms it: when the connection pool hands the
/// request a ready connection (Envoy <c>source/common/router/upstream_request.cc</c>, <c>UpstreamRequest::onPoolReady</c>
/// calls <c>setupPerTryTimeout</c> once the downstream request is complete). Connecting and the TLS handshake are not
/// part of the try: they are bounded by the cluster's connect timeout and the route timeout, never by
/// <c>perTryTimeout</c>.
/// </summary>
/// <remarks>
/// The try starts with the timer armed and hands it to its upstream request (<see cref="OptionKey"/>); when
/// SocketsHttpHandler opens a connection for that request, the cluster's connect callback
/// (<see cref="UpstreamClientFactory"/>) calls <see cref="ConnectStarted"/>, which disarms the timer, and
/// <see cref="ConnectEnded"/>, which arms it again for the whole per-try timeout. Not covered: a try that waits for a
/// busy connection to come free (a <c>maxConnections</c> limit) counts that wait, and on an HTTP/2 TLS cluster the
/// handler's own handshake, which follows the callback, counts too.
/// </remarks>
public sealed class PerTryTimer : IDisposable
{
    /// <summary>Where a try's upstream request carries its timer to the connect callback.</summary>
    public static readonly HttpRequestOptionsKey<PerTryTimer> OptionKey = new("egress.per-try-timer");

    private readonly CancellationTokenSource _source;
    private readonly TimeSpan _timeout;

    /// <summary>Links the try to <paramref name="routeToken"/> (the route timeout and the downstream) and arms the timer.</summary>
    /// <param name="timeout">The per-try timeout; at most <see cref="RetryState.MaxTimer"/> is armed.</param>
    public PerTryTimer(TimeSpan timeout, CancellationToken routeToken)
    {
        _timeout = RetryState.Timer(timeout);
        _source = CancellationTokenSource.CreateLinkedTokenSource(routeToken);
        _source.CancelAfter(_timeout);
    }

    /// <summary>Cancelled when the per-try timeout elapses, the route timeout elapses or the downstream goes away.</summary>
    public CancellationToken Token => _source.Token;

    /// <summary>Whether this try ended by its own timer (not by the route token it is linked to).</summary>
    public bool Expired(CancellationToken routeToken) => _source.IsCancellationRequested && !routeToken.IsCancellationRequested;

    /// <summary>The exception Polly's timeout strategy throws, so the retry policy and the router read it alike.</summary>
    public TimeoutRejectedException Timeout(Exception inner) =>
        new($"The per-try timeout of {_timeout.TotalMilliseconds} ms elapsed.", _timeout, inner);

    /// <summary>A connection for this try is being opened: the try's timer waits.</summary>
    public void ConnectStarted() => Rearm(System.Threading.Timeout.InfiniteTimeSpan);

    /// <summary>The connection is ready (or failed): the try's timer starts again, for the whole per-try timeout.</summary>
    public void ConnectEnded() => Rearm(_timeout);

    private void Rearm(TimeSpan delay)
    {
        try
        {
            if (!_source.IsCancellationRequested)
            {
                _source.CancelAfter(delay);
            }
        }
        catch (ObjectDisposedException)
        {
            // The try ended while its connection was still being opened: the connection outlives it.
        }
    }

    public void Dispose() => _source.Dispose();
}
