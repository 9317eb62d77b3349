using System.Collections.Concurrent;
using System.Globalization;
using System.Text;

namespace Demo.EgressGateway.Mesh;

/// <summary>
/// <c>istio_requests_total</c> and <c>istio_request_duration_milliseconds</c> kept for <c>GET /stats/prometheus</c>
/// on the admin port, in Prometheus text format with Istio's standard label names (Istio's "Standard Metrics"
/// reference; istio/proxy's stats filter) — the same series the OpenTelemetry meter exports.
/// </summary>
public sealed class IstioStats
{
    /// <summary>Envoy's default histogram buckets (ms; envoy <c>source/common/stats/histogram_impl.cc</c>, <c>HistogramSettingsImpl::defaultBuckets</c>), which Istio's duration histogram uses.</summary>
    public static readonly double[] DurationBuckets =
        [0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000, 600000, 1800000, 3600000];

    private readonly ConcurrentDictionary<IstioLabels, Series> _series = new();

    public void Record(in IstioLabels labels, double milliseconds)
    {
        var series = _series.GetOrAdd(labels, _ => new Series());
        Interlocked.Increment(ref series.Count);
        var bucket = Array.BinarySearch(DurationBuckets, milliseconds);
        Interlocked.Increment(ref series.Buckets[bucket >= 0 ? bucket : ~bucket]);
        double current, updated;
        do
        {
            current = Volatile.Read(ref series.Sum);
            updated = current + milliseconds;
        }
        while (Interlocked.CompareExchange(ref series.Sum, updated, current) != current);
    }

    /// <summary>The Prometheus text exposition (version 0.0.4) of both metrics.</summary>
    public string Render()
    {
        var snapshot = _series.OrderBy(s => s.Key.ToString(), StringComparer.Ordinal).ToList();
        var text = new StringBuilder();
        text.Append("# TYPE istio_requests_total counter\n");
        foreach (var (labels, series) in snapshot)
        {
            text.Append(CultureInfo.InvariantCulture, $"istio_requests_total{{{labels.Prometheus()}}} {Interlocked.Read(ref series.Count)}\n");
        }
        text.Append("# TYPE istio_request_duration_milliseconds histogram\n");
        foreach (var (labels, series) in snapshot)
        {
            var prometheus = labels.Prometheus();
            long cumulative = 0;
            for (var i = 0; i < DurationBuckets.Length; i++)
            {
                cumulative += Interlocked.Read(ref series.Buckets[i]);
                text.Append(CultureInfo.InvariantCulture,
                    $"istio_request_duration_milliseconds_bucket{{{prometheus},le=\"{DurationBuckets[i].ToString(CultureInfo.InvariantCulture)}\"}} {cumulative}\n");
            }
            cumulative += Interlocked.Read(ref series.Buckets[^1]);
            text.Append(CultureInfo.InvariantCulture, $"istio_request_duration_milliseconds_bucket{{{prometheus},le=\"+Inf\"}} {cumulative}\n");
            text.Append(CultureInfo.InvariantCulture, $"istio_request_duration_milliseconds_sum{{{prometheus}}} {Volatile.Read(ref series.Sum).ToString("0.###", CultureInfo.InvariantCulture)}\n");
            text.Append(CultureInfo.InvariantCulture, $"istio_request_duration_milliseconds_count{{{prometheus}}} {cumulative}\n");
        }
        return text.ToString();
    }

    private sealed class Series
    {
        public long Count;
        public double Sum;
        public readonly long[] Buckets = new long[DurationBuckets.Length + 1];
    }
}

/// <summary>
/// Istio's standard metric labels for one request at one proxy stage. <c>reporter</c> is <c>source</c> for both
/// stages (Istio: client proxies and gateways report as source); the stage shows in <c>source_workload</c>.
/// <c>route</c> is not Istio's: it names the VirtualService route that matched.
/// </summary>
public readonly record struct IstioLabels(
    string SourceWorkload,
    string SourceWorkloadNamespace,
    string DestinationWorkload,
    string DestinationWorkloadNamespace,
    string DestinationService,
    string DestinationVersion,
    int ResponseCode,
    string ResponseFlags,
    string Route)
{
    public const string Reporter = "source";
    public const string Unknown = "unknown";

    /// <summary>Istio's destination_service_name: the short name of a cluster-local service, else the host itself.</summary>
    public string DestinationServiceName => DestinationService.EndsWith(".svc.cluster.local", StringComparison.OrdinalIgnoreCase)
        ? DestinationService[..DestinationService.IndexOf('.', StringComparison.Ordinal)]
        : DestinationService;

    /// <summary>The label set in Istio's order, as name/value pairs.</summary>
    public IEnumerable<KeyValuePair<string, object?>> Tags()
    {
        yield return new("reporter", Reporter);
        yield return new("source_workload", SourceWorkload);
        yield return new("source_workload_namespace", SourceWorkloadNamespace);
        yield return new("source_canonical_service", SourceWorkload);
        yield return new("destination_workload", DestinationWorkload);
        yield return new("destination_workload_namespace", DestinationWorkloadNamespace);
        yield return new("destination_canonical_service", DestinationWorkload);
        yield return new("destination_service", DestinationService);
        yield return new("destination_service_name", DestinationServiceName);
        yield return new("destination_version", DestinationVersion);
        yield return new("request_protocol", "http");
        yield return new("response_code", ResponseCode);
        yield return new("response_flags", ResponseFlags);
        yield return new("connection_security_policy", Unknown);
        yield return new("route", Route);
    }

    public string Prometheus() => string.Join(',', Tags().Select(t =>
        $"{t.Key}=\"{Escape(Convert.ToString(t.Value, CultureInfo.InvariantCulture) ?? "")}\""));

    private static string Escape(string value) =>
        value.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal).Replace("\n", "\\n", StringComparison.Ordinal);
}
