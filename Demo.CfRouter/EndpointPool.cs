namespace Demo.CfRouter;

/// <summary>
/// The instances of one route (gorouter <c>route/pool.go</c> <c>EndpointPool</c>), walked round-robin by one
/// <see cref="EndpointIterator"/> per request (<c>route/roundrobin.go</c>). An instance that failed in a way gorouter's
/// <c>FailableClassifiers</c> name (dial errors, a connection reset while reading) is skipped for
/// <c>droplet_stale_threshold / 4</c> unless every instance has failed, in which case all are eligible again.
/// </summary>
public sealed class EndpointPool(string host, TimeSpan retryAfterFailure)
{
    private readonly Lock _lock = new();
    private readonly List<Slot> _slots = [];

    // gorouter's NextIdx: -1 until the pool's first request, which starts at a random instance.
    private int _nextIndex = -1;

    public string Host { get; } = host;

    public int Count
    {
        get
        {
            lock (_lock)
            {
                return _slots.Count;
            }
        }
    }

    public IReadOnlyList<RouteEndpoint> Endpoints
    {
        get
        {
            lock (_lock)
            {
                return [.. _slots.Select(s => s.Endpoint)];
            }
        }
    }

    /// <summary>A round-robin walk over the pool for one request (gorouter <c>EndpointPool.Endpoints</c>, <c>NewRoundRobin</c>).</summary>
    public EndpointIterator Iterate() => new(this);

    /// <summary>
    /// The instance of app <paramref name="appId"/> with index <paramref name="instanceIndex"/> (both compared exactly)
    /// in a pool of its own that keeps its own failures and never skips the instance for one (retry after failure 0),
    /// or null when the route has no such instance: gorouter <c>registry/registry.go</c> <c>LookupWithAppInstance</c>,
    /// where the last matching instance wins.
    /// </summary>
    public EndpointPool? ForAppInstance(string appId, string instanceIndex)
    {
        lock (_lock)
        {
            var match = _slots.LastOrDefault(s => s.Endpoint.App == appId && s.Endpoint.InstanceIndex == instanceIndex);
            if (match is null)
            {
                return null;
            }
            var pool = new EndpointPool(Host, TimeSpan.Zero);
            pool._slots.Add(new Slot(match.Endpoint));
            return pool;
        }
    }

    /// <summary>
    /// gorouter <c>RoundRobin.next</c>: from the iterator's position (set from the pool's <c>NextIndex</c> on its
    /// first call), the first instance not marked failed; failures older than the retry-after-failure time are
    /// forgotten; when every instance is marked failed, all marks are cleared and the walk goes on. Null when the
    /// pool is empty.
    /// </summary>
    internal RouteEndpoint? Next(ref int iteratorIndex, DateTimeOffset now)
    {
        lock (_lock)
        {
            var size = _slots.Count;
            if (size == 0)
            {
                return null;
            }
            if (iteratorIndex == -1)
            {
                iteratorIndex = NextIndex();
            }
            if (iteratorIndex >= size)
            {
                iteratorIndex = 0;
            }

            var start = iteratorIndex;
            var current = start;
            while (true)
            {
                var slot = _slots[current];
                var next = current + 1 >= size ? 0 : current + 1;
                if (slot.FailedAt is { } failedAt && now - failedAt > retryAfterFailure)
                {
                    slot.FailedAt = null;
                }
                if (slot.FailedAt is null)
                {
                    iteratorIndex = next;
                    return slot.Endpoint;
                }
                if (next == start)
                {
                    foreach (var other in _slots)
                    {
                        other.FailedAt = null;
                    }
                }
                current = next;
            }
        }
    }

    // gorouter EndpointPool.NextIndex: where a request's walk starts; one instance further for every request, not for
    // every attempt. The caller holds the lock.
    private int NextIndex()
    {
        if (_nextIndex == -1)
        {
            _nextIndex = Random.Shared.Next(_slots.Count);
        }
        var next = _nextIndex;
        _nextIndex++;
        if (_nextIndex >= _slots.Count)
        {
            _nextIndex = 0;
        }
        return next;
    }

    /// <summary>gorouter <c>EndpointPool.EndpointFailed</c> for an error its <c>FailableClassifiers</c> name: the instance is ineligible for a while.</summary>
    internal void MarkFailed(RouteEndpoint endpoint, DateTimeOffset now)
    {
        lock (_lock)
        {
            if (_slots.Find(s => s.Endpoint.Address == endpoint.Address) is { } slot)
            {
                slot.FailedAt = now;
            }
        }
    }

    /// <summary>
    /// Adds the instance, or renews the one registered at its address (replaced when its app, instance id or index
    /// changed, keeping its place and any failure mark, as gorouter's <c>EndpointPool.Put</c> does). True when added or replaced.
    /// </summary>
    internal bool Put(RouteEndpoint endpoint, DateTimeOffset now, TimeSpan staleThreshold)
    {
        lock (_lock)
        {
            var slot = _slots.Find(s => s.Endpoint.Address == endpoint.Address);
            var existing = slot?.Endpoint;
            var added = existing is null || existing.InstanceId != endpoint.InstanceId || existing.App != endpoint.App
                || existing.InstanceIndex != endpoint.InstanceIndex;
            var current = added ? endpoint : existing!;
            current.UpdatedAt = now;
            current.StaleThreshold = staleThreshold;
            if (slot is null)
            {
                _slots.Add(new Slot(endpoint));
            }
            else
            {
                slot.Endpoint = current;
            }
            return added;
        }
    }

    internal bool Remove(string address)
    {
        lock (_lock)
        {
            return _slots.RemoveAll(s => s.Endpoint.Address == address) > 0;
        }
    }

    internal List<RouteEndpoint> RemoveStale(DateTimeOffset now)
    {
        lock (_lock)
        {
            var stale = _slots.Where(s => now - s.Endpoint.UpdatedAt > s.Endpoint.StaleThreshold).ToList();
            _slots.RemoveAll(stale.Contains);
            return [.. stale.Select(s => s.Endpoint)];
        }
    }

    // gorouter's endpointElem: the failure mark belongs to the pool, so a pool made for X-CF-APP-INSTANCE keeps its own.
    private sealed class Slot(RouteEndpoint endpoint)
    {
        public RouteEndpoint Endpoint { get; set; } = endpoint;
        public DateTimeOffset? FailedAt { get; set; }
    }
}

/// <summary>
/// One request's walk over a route's instances (gorouter <c>route/roundrobin.go</c> <c>RoundRobin</c>): each
/// <see cref="Next"/> gives the next eligible instance after the previous one.
/// </summary>
public sealed class EndpointIterator(EndpointPool pool)
{
    private int _index = -1;
    private RouteEndpoint? _last;

    /// <summary>The next instance to try, or null when the route has none left.</summary>
    public RouteEndpoint? Next(DateTimeOffset now) => _last = pool.Next(ref _index, now);

    /// <summary>gorouter <c>RoundRobin.EndpointFailed</c>: marks the last instance given failed, in this iterator's pool.</summary>
    public void EndpointFailed(DateTimeOffset now)
    {
        if (_last is not null)
        {
            pool.MarkFailed(_last, now);
        }
    }
}
