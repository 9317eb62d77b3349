using Demo.EgressGateway.Istio;

namespace Demo.EgressGateway.Mesh;

/// <summary>
/// Envoy's circuit breakers for an HTTP/1.1 cluster: at most maxConnections (and http2MaxRequests) requests in
/// flight, at most http1MaxPendingRequests waiting; anything beyond overflows (503 <c>UO</c>).
/// </summary>
public sealed class ConnectionPoolGate
{
    private readonly SemaphoreSlim? _active;
    private readonly int _maxPending;
    private int _pending;

    public ConnectionPoolGate(ConnectionPool? pool)
    {
        var maxActive = Math.Min(pool?.MaxConnections ?? int.MaxValue, pool?.Http2MaxRequests ?? int.MaxValue);
        _active = maxActive == int.MaxValue ? null : new SemaphoreSlim(maxActive, maxActive);
        _maxPending = pool?.Http1MaxPendingRequests ?? int.MaxValue;
    }

    public static readonly ConnectionPoolGate Unlimited = new(null);

    /// <summary>Enters the pool, waiting as a pending request if allowed; false means overflow.</summary>
    public async ValueTask<bool> TryEnterAsync(CancellationToken cancellationToken)
    {
        if (_active is null || _active.Wait(0, CancellationToken.None))
        {
            return true;
        }
        if (Interlocked.Increment(ref _pending) > _maxPending)
        {
            Interlocked.Decrement(ref _pending);
            return false;
        }
        try
        {
            await _active.WaitAsync(cancellationToken);
            return true;
        }
        finally
        {
            Interlocked.Decrement(ref _pending);
        }
    }

    public void Exit() => _active?.Release();
}
