using Demo.EgressGateway.Envoy;

namespace Demo.EgressGateway.Mesh;

/// <summary>
/// A listener: its filter chains, chosen by SNI (server_names) and transport protocol as Envoy's filter-chain match
/// does; an HTTP chain with its route configuration, a TCP proxy chain without.
/// </summary>
public sealed class ListenerRuntime(Listener listener, IReadOnlyList<(FilterChain Chain, RouteConfigurationRuntime? Routes)> chains)
{
    public Listener Config { get; } = listener;

    /// <summary>
    /// Envoy's filter-chain match on server_names: exact name, then the longest <c>*.suffix</c>, then a chain without
    /// server names. Null: <c>filter_chain_not_found</c> (the connection is closed, access-log flag <c>NR</c>).
    /// </summary>
    public (FilterChain Chain, RouteConfigurationRuntime? Routes)? Match(string? sni) => Match(sni, null);

    /// <summary>
    /// The same match restricted by <c>transport_protocol</c>: <c>tls</c> or <c>raw_buffer</c> as the tls_inspector
    /// found it (a chain that names a transport protocol matches only that one); null: any.
    /// </summary>
    /// <param name="destination">The connection's destination address (prefix_ranges, matched first, the longest
    /// prefix winning); null: only chains without prefix ranges apply.</param>
    public (FilterChain Chain, RouteConfigurationRuntime? Routes)? Match(string? sni, string? transportProtocol, System.Net.IPAddress? destination = null)
    {
        (FilterChain, RouteConfigurationRuntime?)? wildcard = null;
        var wildcardLength = -1;
        (FilterChain, RouteConfigurationRuntime?)? any = null;
        foreach (var (chain, routes) in ByDestination(destination))
        {
            if (transportProtocol is not null && chain.FilterChainMatch?.TransportProtocol is { } required && required != transportProtocol)
            {
                continue;
            }
            var names = chain.FilterChainMatch?.ServerNames ?? [];
            if (names.Count == 0)
            {
                any ??= (chain, routes);
                continue;
            }
            if (sni is null)
            {
                continue;
            }
            foreach (var name in names)
            {
                if (string.Equals(name, sni, StringComparison.OrdinalIgnoreCase))
                {
                    return (chain, routes);
                }
                if (name.StartsWith("*.", StringComparison.Ordinal) && sni.EndsWith(name[1..], StringComparison.OrdinalIgnoreCase) && name.Length > wildcardLength)
                {
                    wildcard = (chain, routes);
                    wildcardLength = name.Length;
                }
            }
        }
        return wildcard ?? any;
    }

    // filter_chain_manager_impl.cc: destination IP before server names — the chains whose prefix_ranges hold the
    // destination most specifically, else those without ranges.
    private IEnumerable<(FilterChain Chain, RouteConfigurationRuntime? Routes)> ByDestination(System.Net.IPAddress? destination)
    {
        static IReadOnlyList<CidrRange> Ranges(FilterChain chain) => chain.FilterChainMatch?.PrefixRanges ?? [];
        if (destination is not null)
        {
            var longest = chains.SelectMany(c => Ranges(c.Chain)).Where(r => r.Contains(destination)).Select(r => (long)r.PrefixLen).DefaultIfEmpty(-1).Max();
            if (longest >= 0)
            {
                return chains.Where(c => Ranges(c.Chain).Any(r => r.PrefixLen == longest && r.Contains(destination)));
            }
        }
        return chains.Where(c => Ranges(c.Chain).Count == 0);
    }
}
