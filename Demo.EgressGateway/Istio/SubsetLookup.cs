namespace Demo.EgressGateway.Istio;

/// <summary>
/// DestinationRule subsets by name, indexed once per rule: a rule may hold thousands (one per service and version
/// behind a shared egress gateway host). The first subset of a name counts, as the first cluster of that name does.
/// </summary>
public sealed class SubsetLookup
{
    private readonly Dictionary<DestinationRule, Dictionary<string, Subset>> _byRule = new(ReferenceEqualityComparer.Instance);

    /// <summary>The subset <paramref name="name"/> of <paramref name="rule"/>; null when the rule has none of that name.</summary>
    public Subset? Find(DestinationRule rule, string name)
    {
        if (!_byRule.TryGetValue(rule, out var byName))
        {
            byName = new Dictionary<string, Subset>(StringComparer.Ordinal);
            foreach (var subset in rule.Subsets)
            {
                byName.TryAdd(subset.Name, subset);
            }
            _byRule[rule] = byName;
        }
        return byName.GetValueOrDefault(name);
    }
}
