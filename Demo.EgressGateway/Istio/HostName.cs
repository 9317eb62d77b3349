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
}
