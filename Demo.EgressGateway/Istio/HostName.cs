namespace Demo.EgressGateway.Istio;

/// <summary>
/// Istio's host names (istio/istio <c>pkg/config/host</c>, <c>Name.SubsetOf</c>): a concrete name against a pattern that
/// may be a wildcard, and the <c>namespace/host</c> form of a Gateway server's hosts.
/// </summary>
public static class HostName
{
    /// <summary>
    /// Whether <paramref name="host"/> falls under <paramref name="pattern"/>: <c>*</c> takes every name,
    /// <c>*.suffix</c> every name ending in <c>.suffix</c>, anything else only itself; case-insensitive.
    /// </summary>
    public static bool Matches(string pattern, string host)
    {
        if (pattern == "*")
        {
            return true;
        }
        if (pattern.StartsWith("*.", StringComparison.Ordinal))
        {
            return host.EndsWith(pattern.AsSpan(1), StringComparison.OrdinalIgnoreCase);
        }
        return string.Equals(pattern, host, StringComparison.OrdinalIgnoreCase);
    }

    /// <summary>A Gateway server host without its namespace: <c>./hello.example.com</c> → <c>hello.example.com</c>.</summary>
    public static string StripNamespace(string gatewayHost)
    {
        var slash = gatewayHost.IndexOf('/', StringComparison.Ordinal);
        return slash < 0 ? gatewayHost : gatewayHost[(slash + 1)..];
    }

    /// <summary>
    /// A Gateway server host as its namespace and host (istio/istio gateway.go, host.NamesForNamespace): <c>ns/h</c> →
    /// (<c>ns</c>, <c>h</c>); <c>./h</c> → (<paramref name="gatewayNamespace"/>, <c>h</c>); <c>*/h</c> and a bare
    /// <c>h</c> → (<c>*</c>, <c>h</c>), any namespace.
    /// </summary>
    public static (string Namespace, string Host) SplitServerHost(string serverHost, string gatewayNamespace)
    {
        var slash = serverHost.IndexOf('/', StringComparison.Ordinal);
        if (slash < 0)
        {
            return ("*", serverHost);
        }
        var ns = serverHost[..slash];
        return (ns == "." ? gatewayNamespace : ns, serverHost[(slash + 1)..]);
    }
}
