using System.Net;
using System.Net.Sockets;

namespace Demo.EgressGateway.Envoy;

/// <summary>Envoy's <c>Http::Utility</c> (<c>source/common/http/utility.cc</c>), the parts the proxies use.</summary>
public static class HttpUtility
{
    /// <summary>What <see cref="ParseAuthority"/> finds in a Host: whether it is an IP literal, the host, the port if any.</summary>
    /// <param name="IsIpAddress">The host is an IPv4 or IPv6 literal (Envoy: <c>parseInternetAddress</c> accepts it).</param>
    /// <param name="Host">The host without the port; an IPv6 literal without its brackets.</param>
    /// <param name="Port">The port when one followed the last <c>:</c> as a number up to 65535, else null.</param>
    public readonly record struct AuthorityAttributes(bool IsIpAddress, string Host, int? Port);

    /// <summary>
    /// Envoy's <c>Http::Utility::parseAuthority</c>, which the router reads for auto_sni and auto_san_validation: the
    /// port is what follows the last <c>:</c> unless the authority ends in <c>]</c>, and only when it is a number up to
    /// 65535 (otherwise the whole authority stays the host: <c>host:</c> and <c>host:99999</c> keep their colon); the
    /// host is an IP address when inet_pton would take it (four dotted decimals, or IPv6 — in brackets, which are then
    /// removed). <c>hello.external:80</c> → (false, <c>hello.external</c>, 80); <c>[::1]:443</c> → (true, <c>::1</c>,
    /// 443); <c>[::1]</c> → (true, <c>::1</c>, null).
    /// </summary>
    public static AuthorityAttributes ParseAuthority(string authority)
    {
        var host = authority;
        int? port = null;
        var colon = authority.LastIndexOf(':');
        if (colon >= 0 && !authority.EndsWith(']'))
        {
            var portText = authority[(colon + 1)..];
            if (portText.Length > 0 && portText.All(char.IsAsciiDigit) && ulong.TryParse(portText, out var value) && value <= 65535)
            {
                host = authority[..colon];
                port = (int)value;
            }
        }
        var literal = host.Length > 1 && host[0] == '[' && host[^1] == ']' ? host[1..^1] : host;
        return IsInternetAddress(literal) ? new(true, literal, port) : new(false, host, port);
    }

    // Envoy's Network::Utility::parseInternetAddress: inet_pton for AF_INET (exactly four decimal parts) or AF_INET6
    // (no zone index); .NET's parser also takes "1.2" or "0x7f.1", which inet_pton refuses.
    private static bool IsInternetAddress(string text)
    {
        if (text.Length == 0 || text.Contains('%', StringComparison.Ordinal) || !IPAddress.TryParse(text, out var address))
        {
            return false;
        }
        if (address.AddressFamily == AddressFamily.InterNetworkV6)
        {
            return text.Contains(':', StringComparison.Ordinal);
        }
        var parts = text.Split('.');
        return parts.Length == 4 && parts.All(p => p.Length is > 0 and <= 3 && p.All(char.IsAsciiDigit) && int.Parse(p, System.Globalization.CultureInfo.InvariantCulture) <= 255);
    }

    /// <summary>
    /// Envoy's <c>Http::Utility::newUri</c> for a route's redirect: the Location of the 3xx answer. Scheme: the
    /// redirect's, else the request's <c>x-forwarded-proto</c>; host: the redirect's, else the request's Host — whose
    /// port is dropped when the redirect sets one, or when the scheme changes away from that port's default
    /// (<c>processRequestHost</c>); then <c>:port</c> when the redirect sets one; path: <c>path_redirect</c> (the
    /// request's query appended unless the redirect path has its own), else the request's path with
    /// <c>prefix_rewrite</c> replacing <paramref name="matchedPrefix"/>, else the request's path.
    /// </summary>
    /// <param name="requestHost">The request's Host (<c>:authority</c>), port included if it had one.</param>
    /// <param name="forwardedProto">The request's <c>x-forwarded-proto</c> (<c>http</c> or <c>https</c>).</param>
    /// <param name="requestPath">The request's path and query, e.g. <c>/foo?key=value</c>.</param>
    /// <param name="matchedPrefix">The route's prefix match, for <c>prefix_rewrite</c>; null for other matches.</param>
    public static string NewUri(RedirectAction redirect, string requestHost, string forwardedProto, string requestPath, string? matchedPrefix)
    {
        var scheme = redirect.SchemeRedirect ?? forwardedProto;
        var port = redirect.PortRedirect is > 0 and var redirectPort ? ":" + redirectPort.ToString(System.Globalization.CultureInfo.InvariantCulture) : "";
        var host = redirect.HostRedirect ?? ProcessRequestHost(requestHost, scheme, port, forwardedProto);
        var query = requestPath.IndexOf('?', StringComparison.Ordinal) is var q and >= 0 ? requestPath[q..] : "";
        string path;
        if (redirect.PathRedirect is { Length: > 0 } pathRedirect)
        {
            path = pathRedirect.Contains('?', StringComparison.Ordinal) ? pathRedirect : pathRedirect + query;
        }
        else if (redirect.PrefixRewrite is { } prefixRewrite && matchedPrefix is not null
            && requestPath.StartsWith(matchedPrefix, StringComparison.OrdinalIgnoreCase))
        {
            path = prefixRewrite + requestPath[matchedPrefix.Length..];
        }
        else
        {
            path = requestPath;
        }
        // utility.cc newUri: a path without its leading slash gets one.
        if (!path.StartsWith('/'))
        {
            path = "/" + path;
        }
        return $"{scheme}://{host}{port}{path}";
    }

    // Envoy's processRequestHost (utility.cc): the request's Host, without its port when a new port is set, or when the
    // scheme changes and the port was the old scheme's default (http://foo:80 does not become https://foo:80).
    private static string ProcessRequestHost(string requestHost, string newScheme, string newPort, string requestProtocol)
    {
        if (requestHost.Length == 0)
        {
            return requestHost;
        }
        var hostEnd = requestHost[0] == '[' ? requestHost.LastIndexOf("]:", StringComparison.Ordinal) is var b and >= 0 ? b + 1 : -1
            : requestHost.LastIndexOf(':');
        if (hostEnd < 0)
        {
            return requestHost;
        }
        var requestPort = requestHost[hostEnd..];
        var removePort = newPort.Length > 0;
        if (newScheme != requestProtocol)
        {
            removePort |= requestProtocol == "https" && requestPort == ":443";
            removePort |= requestProtocol == "http" && requestPort == ":80";
        }
        return removePort ? requestHost[..hostEnd] : requestHost;
    }
}
