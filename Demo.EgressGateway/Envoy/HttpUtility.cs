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
}
