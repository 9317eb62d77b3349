namespace Demo.EgressGateway.Mesh;

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
    /// <summary>Envoy's default histogram buckets (ms; envoy <c>source/common/stats/histogram_impl.cc</c>, <c>HistogramSettingsImpl::defaultBuckets</c>), which Istio's duration histogram uses.</summary>
    public static readonly double[] DurationBuckets =
        [0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000, 600000, 1800000, 3600000];

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
}
