using EnvoyOutlierDetection = Demo.EgressGateway.Envoy.OutlierDetection;

namespace Demo.EgressGateway.Mesh;

/// <summary>
/// The outlier detector of one cluster: its clock (interval sweeps run at start + k × interval) and how many of
/// its hosts are ejected, which <c>max_ejection_percent</c> limits.
/// </summary>
public sealed class OutlierGroup(TimeProvider time)
{
    private int _ejected;

    public TimeProvider Time { get; } = time;
    public long Start { get; } = time.GetTimestamp();
    public int Ejected => Volatile.Read(ref _ejected);

    internal void Add(int delta) => Interlocked.Add(ref _ejected, delta);

    /// <summary>The first interval sweep at or after <paramref name="timestamp"/>.</summary>
    internal long NextSweep(long timestamp, TimeSpan interval)
    {
        var step = Math.Max(1L, (long)(interval.TotalSeconds * Time.TimestampFrequency));
        var elapsed = Math.Max(0, timestamp - Start);
        var ticks = (elapsed + step - 1) / step;
        return Start + ticks * step;
    }

    internal long Step(TimeSpan interval) => Math.Max(1L, (long)(interval.TotalSeconds * Time.TimestampFrequency));
}

/// <summary>
/// One host's outlier state, as Envoy's DetectorHostMonitorImpl keeps it: consecutive 5xx / gateway-failure
/// (/ local-origin) counters, reset by any non-5xx response; an ejection when a counter reaches its threshold and
/// the cluster's <c>max_ejection_percent</c> still allows one more ejected host — counting the host being ejected
/// (envoyproxy/envoy#27909, Envoy ≥ 1.27: a one-host cluster at the default 10% is never ejected); ejection time =
/// base × ejections (the back-off, which shrinks by one on every sweep the host is healthy), capped at
/// max(300 s, base); un-ejection only on an interval sweep.
/// </summary>
public sealed class HostHealth(OutlierGroup group)
{
    private readonly Lock _gate = new();
    private int _consecutive5xx;
    private int _consecutiveGatewayFailure;
    private int _consecutiveLocalOrigin;
    private int _backoff;
    private bool _ejected;
    private long _ejectedAt;
    private long _lastSweep = group.Start;

    /// <summary>How many times this host has been ejected (lifetime).</summary>
    public int Ejections { get; private set; }

    public bool IsEjected(EnvoyOutlierDetection settings)
    {
        lock (_gate)
        {
            Sweep(settings, group.Time.GetTimestamp());
            return _ejected;
        }
    }

    /// <summary>When the current ejection ends (at the sweep after the ejection time), or null if not ejected.</summary>
    public TimeSpan? RemainingEjection(EnvoyOutlierDetection settings)
    {
        lock (_gate)
        {
            var now = group.Time.GetTimestamp();
            Sweep(settings, now);
            return _ejected ? group.Time.GetElapsedTime(now, UnejectAt(settings)) : null;
        }
    }

    private long UnejectAt(EnvoyOutlierDetection settings)
    {
        var duration = Min(settings.BaseEjectionTime * Math.Max(1, _backoff), settings.MaxEjectionTime);
        return group.NextSweep(_ejectedAt + (long)(duration.TotalSeconds * group.Time.TimestampFrequency), settings.Interval);
    }

    private static TimeSpan Min(TimeSpan a, TimeSpan b) => a < b ? a : b;

    // Runs the interval sweeps that have happened since the last look: un-eject when due, shrink the back-off while healthy.
    private void Sweep(EnvoyOutlierDetection settings, long now)
    {
        var step = group.Step(settings.Interval);
        if (_ejected)
        {
            var unejectAt = UnejectAt(settings);
            if (now < unejectAt)
            {
                return;
            }
            _ejected = false;
            group.Add(-1);
            _lastSweep = unejectAt;
        }
        if (now - _lastSweep >= step)
        {
            var sweeps = (now - _lastSweep) / step;
            _backoff = (int)Math.Max(0, _backoff - sweeps);
            _lastSweep += sweeps * step;
        }
    }

    /// <summary>
    /// Records one result; returns true when it ejected the host. <paramref name="localOriginFailure"/>: a connect
    /// failure or reset (<paramref name="status"/> 0, counted as 503) or a timeout (504), unless
    /// split_external_local_origin_errors counts them apart.
    /// </summary>
    public bool Record(EnvoyOutlierDetection settings, int hostsInCluster, int status, bool localOriginFailure)
    {
        lock (_gate)
        {
            Sweep(settings, group.Time.GetTimestamp());
            if (localOriginFailure && settings.SplitExternalLocalOriginErrors)
            {
                _consecutiveLocalOrigin++;
                if (settings.ConsecutiveLocalOriginFailure is > 0 and var limit && _consecutiveLocalOrigin >= limit)
                {
                    _consecutiveLocalOrigin = 0;
                    return TryEject(settings, hostsInCluster);
                }
                return false;
            }
            if (!localOriginFailure)
            {
                _consecutiveLocalOrigin = 0;
            }
            // Not split: Envoy maps a local-origin failure to a code — a connect failure to 503, a timeout to 504.
            var code = localOriginFailure && status == 0 ? 503 : status;
            if (code < 500)
            {
                _consecutive5xx = 0;
                _consecutiveGatewayFailure = 0;
                return false;
            }
            var ejected = false;
            if (code is 502 or 503 or 504)
            {
                if ((settings.ConsecutiveGatewayFailure ?? 5) is > 0 and var gatewayLimit && ++_consecutiveGatewayFailure >= gatewayLimit)
                {
                    _consecutiveGatewayFailure = 0;
                    ejected = settings.EnforceGatewayFailure && TryEject(settings, hostsInCluster);
                }
            }
            else
            {
                _consecutiveGatewayFailure = 0;
            }
            if ((settings.Consecutive5xx ?? 5) is > 0 and var limit5xx && ++_consecutive5xx >= limit5xx)
            {
                _consecutive5xx = 0;
                ejected |= settings.Enforce5xx && TryEject(settings, hostsInCluster);
            }
            return ejected;
        }
    }

    private bool TryEject(EnvoyOutlierDetection settings, int hostsInCluster)
    {
        if (_ejected)
        {
            return false;
        }
        var percentAfter = 100.0 * (group.Ejected + 1) / Math.Max(1, hostsInCluster);
        if (percentAfter > Math.Min(100, settings.MaxEjectionPercent))
        {
            return false;
        }
        var maxBackoff = (int)Math.Ceiling(settings.MaxEjectionTime / settings.BaseEjectionTime);
        _backoff = Math.Min(_backoff + 1, Math.Max(1, maxBackoff));
        _ejected = true;
        _ejectedAt = group.Time.GetTimestamp();
        Ejections++;
        group.Add(1);
        return true;
    }
}
