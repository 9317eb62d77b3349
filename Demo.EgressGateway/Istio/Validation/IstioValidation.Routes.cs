namespace Demo.EgressGateway.Istio.Validation;

using Demo.EgressGateway.Istio.Api;

// IstioValidation, continued: what an HTTP route answers itself (redirect, directResponse), and the tls and tcp routes
// (validation.go validateHTTPRedirect, validateHTTPDirectResponse, validateTLSRoute, validateTLSMatch,
// validateSniHost, validateTCPRoute, validateTCPMatch).
internal static partial class IstioValidation
{
    /// <summary>
    /// validation.go <c>validateHTTPRedirect</c> (its prefix_rewrite rules have nothing to check: Istio 1.30's
    /// HTTPRedirect has no prefixRewrite).
    /// </summary>
    public static void ValidateHTTPRedirect(HTTPRedirect redirect, string path, Findings v)
    {
        if (string.IsNullOrEmpty(redirect.Uri) && string.IsNullOrEmpty(redirect.Authority) && redirect.Port is null
            && redirect.DerivePort is null && string.IsNullOrEmpty(redirect.Scheme))
        {
            v.Error(path, "redirect must specify URI, authority, scheme, or port");
        }
        if (redirect.RedirectCode is { } code and not 0 and (< 300 or > 399))
        {
            v.Error($"{path}.redirectCode", $"{code} is not a valid redirect code, must be 3xx");
        }
        if (!string.IsNullOrEmpty(redirect.Scheme) && redirect.Scheme is not ("http" or "https"))
        {
            v.Error($"{path}.scheme", "invalid redirect scheme, must be \"http\" or \"https\"");
        }
        // Checked when above 0 only; route.go ApplyRedirect then writes port 0, i.e. none.
        if (redirect.Port is > 0)
        {
            ValidatePort(redirect.Port, $"{path}.port", v);
        }
    }

    /// <summary>
    /// validation.go <c>validateHTTPDirectResponse</c>: a status Envoy can send (<c>validateHTTPStatus</c>); a body over
    /// 1 MB is refused, over 100 KB warned about.
    /// </summary>
    public static void ValidateHTTPDirectResponse(HTTPDirectResponse response, string path, Findings v)
    {
        if (response.Body is { } body)
        {
            var size = body.Bytes is { } bytes ? bytes.Length / 4 * 3 : System.Text.Encoding.UTF8.GetByteCount(body.String ?? "");
            if (size > 1024 * 1024)
            {
                v.Error($"{path}.body", "large direct_responses may impact control plane performance, must be less than 1MB");
            }
            else if (size > 100 * 1024)
            {
                v.Warning($"{path}.body", "large direct_responses may impact control plane performance");
            }
        }
        ValidateHTTPStatus(response.Status, $"{path}.status", v);
    }

    /// <summary>validation.go <c>validateTLSRoute</c>: at least one match and one destination.</summary>
    public static void ValidateTLSRoute(TLSRoute tls, IReadOnlyList<string> hosts, string path, Findings v)
    {
        if (tls.Match is not { Count: > 0 })
        {
            v.Error($"{path}.match", "TLS route must have at least one match condition");
        }
        foreach (var (match, i) in (tls.Match ?? []).Select((m, i) => (m, i)))
        {
            ValidateTLSMatch(match, hosts, $"{path}.match[{i}]", v);
        }
        if (tls.Route is not { Count: > 0 })
        {
            v.Error($"{path}.route", "TLS route is required");
        }
        ValidateHTTPRouteDestinations(tls.Route, $"{path}.route", v);
    }

    /// <summary>validation.go <c>validateTLSMatch</c>: SNI hosts (<see cref="ValidateSniHost"/>) and the port.</summary>
    public static void ValidateTLSMatch(TLSMatchAttributes match, IReadOnlyList<string> hosts, string path, Findings v)
    {
        if (match.SniHosts is not { Count: > 0 })
        {
            v.Error($"{path}.sniHosts", "TLS match must have at least one SNI host");
        }
        foreach (var sniHost in match.SniHosts ?? [])
        {
            ValidateSniHost(sniHost, hosts, $"{path}.sniHosts", v);
        }
        ValidatePort(match.Port, $"{path}.port", v);
    }

    /// <summary>validation.go <c>validateSniHost</c>: an SNI host is a subset of one of the VirtualService's hosts.</summary>
    public static void ValidateSniHost(string sniHost, IReadOnlyList<string> hosts, string path, Findings v)
    {
        if (!hosts.Any(h => HostName.Matches(h, sniHost)))
        {
            v.Error(path, $"SNI host \"{sniHost}\" is not a compatible subset of any of the virtual service hosts: [{string.Join(", ", hosts)}]");
        }
    }

    /// <summary>validation.go <c>validateTCPRoute</c> and <c>validateTCPMatch</c>: a destination, and each match's port.</summary>
    public static void ValidateTCPRoute(TCPRoute tcp, string path, Findings v)
    {
        foreach (var (match, i) in (tcp.Match ?? []).Select((m, i) => (m, i)))
        {
            ValidatePort(match.Port, $"{path}.match[{i}].port", v);
        }
        if (tcp.Route is not { Count: > 0 })
        {
            v.Error($"{path}.route", "TCP route is required");
        }
        ValidateHTTPRouteDestinations(tcp.Route, $"{path}.route", v);
    }
}
