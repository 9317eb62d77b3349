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
        // Protobuf has no "unset" for integers: Istio reads 0 as "not set" (Envoy's default, effectively unlimited).
        var maxActive = Math.Min(OrUnlimited(pool?.MaxConnections), OrUnlimited(pool?.Http2MaxRequests));
        _active = maxActive == int.MaxValue ? null : new SemaphoreSlim(maxActive, maxActive);
        _maxPending = OrUnlimited(pool?.Http1MaxPendingRequests);
    }

    public static readonly ConnectionPoolGate Unlimited = new(null);

    private static int OrUnlimited(int? value) => value is > 0 ? value.Value : int.MaxValue;

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
