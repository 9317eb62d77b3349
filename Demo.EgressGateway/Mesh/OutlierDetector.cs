using Demo.EgressGateway.Istio;

namespace Demo.EgressGateway.Mesh;

/// <summary>
/// Envoy's consecutive-error outlier detection for one cluster. Every cluster here has one endpoint (one external
/// host per weighted destination), so an ejection leaves the cluster with no healthy upstream: requests routed to
/// it fail fast with 503 <c>UH</c> until the ejection time passes (Istio's minHealthPercent 0: no panic routing).
/// The ejection time grows with each ejection, as Envoy's does (base × ejections).
/// </summary>
public sealed class OutlierDetector(TimeProvider time)
{
    private readonly Lock _gate = new();
    private int _consecutive5xx;
    private int _consecutiveGatewayErrors;
    private int _ejections;
    private long _ejectedUntil;

    public bool IsEjected(out TimeSpan remaining)
    {
        var until = Volatile.Read(ref _ejectedUntil);
        var now = time.GetTimestamp();
        remaining = until > now ? time.GetElapsedTime(now, until) : TimeSpan.Zero;
        return until > now;
    }

    /// <summary>Records one upstream result; returns true when this result ejected the endpoint.</summary>
    public bool Record(OutlierSettings settings, int status, bool localOriginFailure)
    {
        var is5xx = localOriginFailure || status >= 500;
        var isGatewayError = localOriginFailure || status is 502 or 503 or 504;
        lock (_gate)
        {
            _consecutive5xx = is5xx ? _consecutive5xx + 1 : 0;
            _consecutiveGatewayErrors = isGatewayError ? _consecutiveGatewayErrors + 1 : 0;
            var eject = (settings.Consecutive5xxErrors > 0 && _consecutive5xx >= settings.Consecutive5xxErrors)
                || (settings.ConsecutiveGatewayErrors > 0 && _consecutiveGatewayErrors >= settings.ConsecutiveGatewayErrors);
            if (!eject || IsEjected(out _))
            {
                return false;
            }
            _ejections++;
            _consecutive5xx = 0;
            _consecutiveGatewayErrors = 0;
            var duration = settings.BaseEjectionTime * Math.Min(_ejections, 10);
            Volatile.Write(ref _ejectedUntil, time.GetTimestamp() + (long)(duration.TotalSeconds * time.TimestampFrequency));
            return true;
        }
    }
}

/// <summary>Istio's outlierDetection with its defaults filled in.</summary>
public sealed record OutlierSettings(int Consecutive5xxErrors, int ConsecutiveGatewayErrors, TimeSpan BaseEjectionTime)
{
    public static OutlierSettings? From(OutlierDetection? detection) => detection is null ? null : new(
        detection.Consecutive5xxErrors ?? 5,
        detection.ConsecutiveGatewayErrors ?? 0,
        detection.BaseEjectionTime ?? TimeSpan.FromSeconds(30));
}
