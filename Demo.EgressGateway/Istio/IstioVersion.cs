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

    /// <summary>Whether <c>apiVersion</c> <paramref name="apiVersion"/> is served: <c>networking.istio.io/v1</c> and <c>security.istio.io/v1</c> exist from 1.22.</summary>
    public bool Serves(string apiVersion) => apiVersion switch
    {
        "networking.istio.io/v1" or "security.istio.io/v1" or "telemetry.istio.io/v1" => CompareTo(new IstioVersion(1, 22)) >= 0,
        "networking.istio.io/v1beta1" or "networking.istio.io/v1alpha3" or "security.istio.io/v1beta1" or "telemetry.istio.io/v1alpha1" => true,
        _ => false,
    };

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
