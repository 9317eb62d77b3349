using System.Globalization;

namespace Demo.EgressGateway.Istio;

/// <summary>
/// The Istio minor version the configuration is written for (<c>EgressGateway:IstioVersion</c>, default 1.30;
/// supported 1.22–1.30). Where istiod's translation changed inside that range, the local gateway follows this
/// version; every such behaviour is a property here, with the change that introduced it. The loader checks documents
/// against the newest release's CRD schema (Istio/Schema, 1.30.3), whose served versions are <see cref="ServedVersions"/>
/// of <see cref="Newest"/>; what an older release's CRD lacks is a property here, which the analyzer checks
/// (e.g. <see cref="AcceptsRetryBackoffAndRetryIgnorePreviousHosts"/>).
/// </summary>
public readonly record struct IstioVersion(int Major, int Minor) : IComparable<IstioVersion>
{
    public static readonly IstioVersion Oldest = new(1, 22);
    public static readonly IstioVersion Newest = new(1, 30);
    public static readonly IstioVersion Default = Newest;

    /// <summary>
    /// Istio's default retry policy (and a <c>retries</c> block without <c>retryOn</c>) also retries 503 through
    /// <c>retriable_status_codes: [503]</c> up to 1.23; from 1.24 it does not (istio/istio#52111,
    /// <c>EXCLUDE_UNSAFE_503_FROM_DEFAULT_RETRY</c> defaults to true; the switch was removed in #56023).
    /// </summary>
    public bool DefaultRetryPolicyRetries503 => Before(1, 24);

    /// <summary>
    /// <c>retries.retryOn</c> may name <c>reset-before-request</c> and <c>http3-post-connect-failure</c> from 1.23 on;
    /// 1.22's validation refuses them as "not a valid retryOn policy" (istio/istio#52032;
    /// pkg/config/validation/validation.go <c>supportedRetryOnPolicies</c>; Envoy 1.31's new condition).
    /// </summary>
    public bool AcceptsResetBeforeRequestRetryOn => !Before(1, 23);

    /// <summary>
    /// Two DestinationRules for one host in one namespace are merged whatever their <c>exportTo</c> up to 1.23
    /// (the merged rule takes the first explicit <c>exportTo</c>); from 1.24 only rules with the same <c>exportTo</c>
    /// (or a superset of a non-empty one) are, the others stay separate entries and a proxy that sees several uses the
    /// last one without workloadSelector, unless one with a selector picks it; a rule without selector and with the
    /// selector rule's exportTo (".") is merged into that entry and not kept as its own (istio/istio#52636, <c>ENABLE_ENHANCED_DESTINATIONRULE_MERGE</c> defaults to true;
    /// pilot/pkg/model/destination_rule.go <c>mergeDestinationRule</c>, sidecar.go <c>SidecarScope.DestinationRule</c>).
    /// </summary>
    public bool MergesDestinationRulesWithDifferentExportTo => Before(1, 24);

    /// <summary>
    /// When a sidecar (with a Sidecar resource, as the demo's namespace has) imports one hostname from several
    /// namespaces, none of them its own, 1.24 prefers a Kubernetes Service over a ServiceEntry; up to 1.23 the first
    /// one seen wins (istio/istio#51776, <c>PILOT_UNIFIED_SIDECAR_SCOPE</c> defaults to true; sidecar.go
    /// <c>selectServices</c>).
    /// </summary>
    public bool SidecarPrefersKubernetesServiceForSharedHostname => !Before(1, 24);

    /// <summary>
    /// The egress gateway (use_remote_address) treats a downstream with an RFC 1918 or loopback address — the calling
    /// pod — as internal up to 1.24 (Envoy ≤ 1.32): it adds <c>x-envoy-internal: true</c> and keeps the request id and
    /// Envoy's internal headers. From 1.25 (Envoy 1.33, <c>envoy.reloadable_features.explicit_internal_address_config</c>
    /// on) no address is internal unless meshNetworks and <c>ENABLE_HCM_INTERNAL_NETWORKS</c> say so: the request is
    /// an edge request, so the gateway strips Envoy's internal headers, sets <c>x-envoy-external-address</c> and
    /// generates a new <c>x-request-id</c> (upgrade note "Envoy default internalAddressConfig value change",
    /// istio/istio#54996; gateway.go <c>buildGatewayConnectionManager</c>; Envoy conn_manager_utility.cc).
    /// </summary>
    public bool GatewayTreatsPrivateAddressesAsInternal => Before(1, 25);

    /// <summary>
    /// <c>retries.backoff</c> and <c>retries.retryIgnorePreviousHosts</c> exist from 1.26 (istio/istio#55639,
    /// #55239; the VirtualService CRD schema of 1.25 has neither, so the API server refuses them).
    /// </summary>
    public bool AcceptsRetryBackoffAndRetryIgnorePreviousHosts => !Before(1, 26);

    /// <summary>
    /// A sidecar's virtual host for a service also matches its absolute name with a trailing dot
    /// (<c>hello.external.</c>) from 1.27 (istio/istio#56008, <c>PILOT_ENABLE_ABSOLUTE_FQDN_VHOST_DOMAIN</c> defaults to
    /// true; httproute.go <c>GenerateAltVirtualHosts</c>); before, such a Host falls to the catch-all virtual host.
    /// </summary>
    public bool SidecarVirtualHostsMatchTheAbsoluteName => !Before(1, 27);

    /// <summary>
    /// With Telemetry API tracing, the gateway's connection manager sets <c>tracing.spawn_upstream_span</c> from 1.28:
    /// besides its own span, the gateway emits a client span per upstream request, <c>router &lt;cluster&gt; egress</c>
    /// (the flag <c>PILOT_SPAWN_UPSTREAM_SPAN_FOR_GATEWAY</c> came in 1.26 defaulting to false, istio/istio#55676, and
    /// defaults to true from 1.28, istio/istio#57572; pilot/pkg/networking/core/tracing.go
    /// <c>configureFromProviderConfig</c>).
    /// </summary>
    public bool GatewaySpawnsUpstreamSpan => !Before(1, 28);

    /// <summary>
    /// Clusters' circuit-breaker thresholds carry <c>track_remaining: true</c> up to 1.28; from 1.29 they do not
    /// (istio/istio#58070, <c>DISABLE_TRACK_REMAINING_CB_METRICS</c> defaults to true;
    /// cluster_traffic_policy.go <c>getDefaultCircuitBreakerThresholds</c>).
    /// </summary>
    public bool CircuitBreakersTrackRemaining => Before(1, 29);

    /// <summary>
    /// The versions of API group <paramref name="group"/> this Istio serves for the kinds this project uses, newest
    /// first; empty for any other group. From Istio's CustomResourceDefinitions
    /// (<c>manifests/charts/base/files/crd-all.gen.yaml</c> in istio/istio; for 1.30.3 the copy in
    /// <c>shared/istio/crd-all.gen.yaml</c>, which the deploy tests compare this with): <c>networking.istio.io</c>
    /// ServiceEntry, VirtualService, DestinationRule, Gateway and Sidecar serve v1, v1beta1 and v1alpha3;
    /// <c>security.istio.io</c> AuthorizationPolicy and PeerAuthentication v1 and v1beta1; <c>telemetry.istio.io</c>
    /// Telemetry v1 and v1alpha1. The v1 versions exist from Istio 1.22, which promoted these APIs to v1; the older
    /// ones are served throughout 1.22–1.30.
    /// </summary>
    public IReadOnlyList<string> ServedVersions(string group)
    {
        var hasV1 = CompareTo(new IstioVersion(1, 22)) >= 0;
        string[] older = group switch
        {
            "networking.istio.io" => ["v1beta1", "v1alpha3"],
            "security.istio.io" => ["v1beta1"],
            "telemetry.istio.io" => ["v1alpha1"],
            _ => [],
        };
        return older.Length == 0 ? [] : hasV1 ? ["v1", .. older] : older;
    }

    /// <summary>Whether <paramref name="apiVersion"/> (<c>group/version</c>) is one of <see cref="ServedVersions"/>.</summary>
    public bool Serves(string apiVersion)
    {
        var slash = apiVersion.IndexOf('/', StringComparison.Ordinal);
        return slash > 0 && ServedVersions(apiVersion[..slash]).Contains(apiVersion[(slash + 1)..]);
    }

    private bool Before(int major, int minor) => CompareTo(new IstioVersion(major, minor)) < 0;

    public int CompareTo(IstioVersion other) => Major != other.Major ? Major.CompareTo(other.Major) : Minor.CompareTo(other.Minor);

    public override string ToString() => $"{Major}.{Minor}";

    /// <summary>Parses <c>1.24</c> or <c>1.24.3</c>; <see cref="FormatException"/> names the supported range.</summary>
    public static IstioVersion Parse(string text)
    {
        var parts = text.Trim().TrimStart('v').Split('.');
        if (parts.Length is < 2 or > 3
            || !int.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out var major)
            || !int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out var minor))
        {
            throw new FormatException($"'{text}' is not an Istio version such as 1.30 (supported: {Oldest}–{Newest})");
        }
        var version = new IstioVersion(major, minor);
        if (version.CompareTo(Oldest) < 0 || version.CompareTo(Newest) > 0)
        {
            throw new FormatException($"Istio {version} is outside the supported range {Oldest}–{Newest}");
        }
        return version;
    }

    public static bool TryParse(string? text, out IstioVersion version)
    {
        try
        {
            version = Parse(text ?? "");
            return true;
        }
        catch (FormatException)
        {
            version = Default;
            return false;
        }
    }
}
