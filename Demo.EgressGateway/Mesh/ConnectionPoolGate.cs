namespace Demo.EgressGateway.Mesh;

/// <summary>
/// Envoy's circuit breakers for an HTTP/1.1 cluster (one request per connection): at most max_connections requests
/// (and max_requests) in flight, at most max_pending_requests waiting for a connection; anything beyond overflows
/// (503 <c>UO</c>). As in Envoy's ConnPoolImplBase::newStreamImpl, a request that must wait counts as pending, and so
/// does a request whose new connection is still being established (<see cref="ConnectStarted"/>): with
/// max_pending_requests 1, a second request that arrives while the first one's connection is being set up overflows.
/// Istio writes 2^32−1 (unlimited) for every threshold the DestinationRule leaves unset (or 0).
/// </summary>
public sealed class ConnectionPoolGate
{
    private readonly SemaphoreSlim? _active;
    private readonly long _maxPending;
    private int _pending;
    private int _connecting;

    public ConnectionPoolGate(Envoy.Thresholds? breakers)
    {
        var maxActive = Math.Min(breakers?.MaxConnections ?? uint.MaxValue, breakers?.MaxRequests ?? uint.MaxValue);
        _active = maxActive >= int.MaxValue ? null : new SemaphoreSlim((int)maxActive, (int)maxActive);
        _maxPending = breakers?.MaxPendingRequests ?? uint.MaxValue;
        Limits = new(breakers?.MaxConnections ?? ClusterStats.IstioUnlimited, breakers?.MaxPendingRequests ?? ClusterStats.IstioUnlimited,
            breakers?.MaxRequests ?? ClusterStats.IstioUnlimited);
    }

    /// <summary>The thresholds as Envoy's <c>/clusters</c> shows them: Istio's max uint32 where none is set.</summary>
    public CircuitBreakerLimits Limits { get; }

    /// <summary>Requests waiting for a connection now (Envoy's upstream_rq_pending_active).</summary>
    public int Pending => Volatile.Read(ref _pending);

    /// <summary>A new upstream connection is being established (TCP and TLS): its request is pending until it is up.</summary>
    public void ConnectStarted() => Interlocked.Increment(ref _connecting);

    public void ConnectEnded() => Interlocked.Decrement(ref _connecting);

    /// <summary>Enters the pool, waiting as a pending request if allowed; false means overflow.</summary>
    public async ValueTask<bool> TryEnterAsync(CancellationToken cancellationToken)
    {
        if (_active is null || _active.Wait(0, CancellationToken.None))
        {
            return true;
        }
        if (Interlocked.Increment(ref _pending) + Volatile.Read(ref _connecting) > _maxPending)
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
