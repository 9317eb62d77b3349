namespace Demo.EgressGateway.Envoy;

/// <summary>Envoy's <c>Http::HeaderUtility</c> (<c>source/common/http/header_utility.cc</c>), the parts the proxies use.</summary>
public static class HeaderUtility
{
    /// <summary>
    /// The authority without its port, as Envoy's <c>getPortStart</c> finds the port: after the last <c>:</c>, unless a
    /// <c>]</c> (the end of an IPv6 literal, RFC 3986 §3.2.2) comes after it. <c>host:80</c> → <c>host</c>,
    /// <c>[::1]:80</c> → <c>[::1]</c>, <c>[::1]</c> and <c>host</c> unchanged, <c>host:</c> → <c>host</c>.
    /// </summary>
    public static string StripPortFromHost(string authority)
    {
        var portStart = authority.LastIndexOf(':');
        if (portStart < 0)
        {
            return authority;
        }
        var v6End = authority.LastIndexOf(']');
        return v6End < 0 || v6End < portStart ? authority[..portStart] : authority;
    }
}
