using System.Globalization;

namespace Demo.EgressGateway.Istio;

/// <summary>
/// The Istio minor version the configuration is written for (<c>EgressGateway:IstioVersion</c>, default 1.30;
/// supported 1.22–1.30). Where istiod's translation changed inside that range, the local gateway follows this
/// version; every such behaviour is a property here, with the change that introduced it.
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
    public bool DefaultRetryPolicyRetries503 => CompareTo(new IstioVersion(1, 24)) < 0;

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
