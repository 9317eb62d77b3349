namespace Demo.EgressGateway.Istio;

/// <summary>
/// Items keyed by host patterns (<see cref="HostName.Matches"/>: <c>*</c>, <c>*.suffix</c> or a name), looked up by a
/// host in time independent of how many concrete names there are: a dictionary for the names, a list for the wildcards
/// (few in practice). Every lookup answers in the items' order, each item once, as a scan of the items in order would.
/// </summary>
/// <typeparam name="T">What a pattern belongs to (a ServiceEntry, a Gateway, a DestinationRule, …).</typeparam>
public sealed class HostIndex<T>
{
    private readonly Dictionary<string, List<int>> _names = new(StringComparer.OrdinalIgnoreCase);
    private readonly List<(string Pattern, int Order)> _wildcards = [];
    private readonly List<T> _items = [];

    /// <summary>Indexes each item under the patterns <paramref name="patterns"/> gives it, in the order of <paramref name="items"/>.</summary>
    public HostIndex(IEnumerable<T> items, Func<T, IEnumerable<string>> patterns)
    {
        foreach (var item in items)
        {
            var order = _items.Count;
            _items.Add(item);
            foreach (var pattern in patterns(item))
            {
                if (IsWildcard(pattern))
                {
                    _wildcards.Add((pattern, order));
                }
                else if (!_names.TryGetValue(pattern, out var orders))
                {
                    _names[pattern] = [order];
                }
                else if (orders[^1] != order)
                {
                    orders.Add(order);
                }
            }
        }
    }

    /// <summary>Whether <see cref="HostName.Matches"/> treats <paramref name="pattern"/> as a wildcard.</summary>
    public static bool IsWildcard(string pattern) => pattern == "*" || pattern.StartsWith("*.", StringComparison.Ordinal);

    /// <summary>The items with a pattern that <paramref name="host"/> falls under, in order.</summary>
    public IEnumerable<T> Matching(string host) => Collect(host, alsoCoveredByHost: false).Select(o => _items[o]);

    /// <summary>
    /// The items with a pattern that <paramref name="host"/> falls under or that falls under <paramref name="host"/>
    /// (when it is a wildcard itself), in order.
    /// </summary>
    public IEnumerable<T> Overlapping(string host) => Collect(host, alsoCoveredByHost: true).Select(o => _items[o]);

    /// <summary>Whether any pattern matches <paramref name="host"/>.</summary>
    public bool AnyMatches(string host) =>
        _names.ContainsKey(host) || _wildcards.Exists(w => HostName.Matches(w.Pattern, host));

    /// <summary>Whether any pattern matches <paramref name="host"/> or falls under it (see <see cref="Overlapping"/>).</summary>
    public bool AnyOverlaps(string host) =>
        AnyMatches(host) || (IsWildcard(host) && (_names.Keys.Any(n => HostName.Matches(host, n)) || _wildcards.Exists(w => HostName.Matches(host, w.Pattern))));

    /// <summary>
    /// Istio's most specific match (config.go MostSpecificHostMatch): the first item whose pattern is exactly
    /// <paramref name="host"/>, else the first item of the longest wildcard that <paramref name="host"/> falls under.
    /// </summary>
    public T? MostSpecific(string host)
    {
        if (_names.TryGetValue(host, out var exact))
        {
            return _items[exact[0]];
        }
        var best = -1;
        var bestLength = -1;
        foreach (var (pattern, order) in _wildcards)
        {
            if (string.Equals(pattern, host, StringComparison.OrdinalIgnoreCase))
            {
                return _items[order];
            }
            if (HostName.Matches(pattern, host) && pattern.Length > bestLength)
            {
                (best, bestLength) = (order, pattern.Length);
            }
        }
        return best < 0 ? default : _items[best];
    }

    private SortedSet<int> Collect(string host, bool alsoCoveredByHost)
    {
        var orders = new SortedSet<int>();
        if (_names.TryGetValue(host, out var exact))
        {
            orders.UnionWith(exact);
        }
        foreach (var (pattern, order) in _wildcards)
        {
            if (HostName.Matches(pattern, host) || (alsoCoveredByHost && HostName.Matches(host, pattern)))
            {
                orders.Add(order);
            }
        }
        if (alsoCoveredByHost && IsWildcard(host))
        {
            foreach (var (name, named) in _names)
            {
                if (HostName.Matches(host, name))
                {
                    orders.UnionWith(named);
                }
            }
        }
        return orders;
    }
}
