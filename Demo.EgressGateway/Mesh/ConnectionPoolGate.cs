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
        Limits = new(Shown(pool?.MaxConnections), Shown(pool?.Http1MaxPendingRequests), Shown(pool?.Http2MaxRequests));
    }

    /// <summary>The thresholds as Envoy's <c>/clusters</c> shows them: Istio's max uint32 where none is set.</summary>
    public CircuitBreakerLimits Limits { get; }

    private static long Shown(int? value) => value is > 0 ? value.Value : ClusterStats.IstioUnlimited;

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

/// <summary>Envoy's circuit-breaker thresholds of one cluster (<c>max_connections</c>, <c>max_pending_requests</c>, <c>max_requests</c>).</summary>
public readonly record struct CircuitBreakerLimits(long MaxConnections, long MaxPendingRequests, long MaxRequests);
