using Demo.EgressGateway.Istio;
using IstioDestinationRule = Demo.EgressGateway.Istio.DestinationRule;

namespace Demo.EgressGateway.Envoy;

// istiod model/push_context.go setDestinationRules / destinationRule and destination_rule.go mergeDestinationRule: which DestinationRule a proxy applies to a host.
public static partial class IstioTranslator
{
    /// <summary>One entry of a host's consolidated DestinationRules (model.ConsolidatedDestRule): the merged rule and the exportTo it is indexed with.</summary>
    private sealed record ConsolidatedRule(IstioDestinationRule Rule, IReadOnlySet<string> ExportTo);

    /// <summary>
    /// Istio's three DestinationRule indexes (push_context.go setDestinationRules), host → consolidated entries:
    /// per namespace the rules its own proxies see, per namespace the rules it exports, and the root namespace's
    /// private ones.
    /// </summary>
    private sealed record RuleIndexes(
        Dictionary<string, HostRules> NamespaceLocal,
        Dictionary<string, HostRules> Exported,
        HostRules RootNamespaceLocal)
    {
        public static RuleIndexes Build(IEnumerable<IstioDestinationRule> rules, Func<IstioResource, string> namespaceOf, IstioVersion version)
        {
            var indexes = new RuleIndexes(new(StringComparer.Ordinal), new(StringComparer.Ordinal), new());
            // sortConfigBySelectorAndCreationTime: rules with a workloadSelector first, then creation time, then name,
            // then namespace. The YAML carries no creation time (the API server sets it); rules applied together share
            // its one-second resolution, so name and namespace decide, as they do in istiod then.
            foreach (var rule in rules.OrderBy(r => r.WorkloadSelector is null)
                .ThenBy(r => r.Id.Name, StringComparer.Ordinal).ThenBy(r => namespaceOf(r), StringComparer.Ordinal))
            {
                var ns = namespaceOf(rule);
                // A rule with a workloadSelector is not exported to other namespaces: its exportTo is "." whatever it says.
                var exportTo = rule.WorkloadSelector is null
                    ? rule.ExportTo.ToHashSet(StringComparer.Ordinal)
                    : new HashSet<string>(StringComparer.Ordinal) { "." };
                if (exportTo.Count == 0 || exportTo.Contains("*") || exportTo.Contains(".") || exportTo.Contains(ns))
                {
                    Merge(For(indexes.NamespaceLocal, ns), rule, exportTo, version);
                }
                // Private only: exportTo is just "." or the rule's own namespace (the mesh default exportTo is "*").
                var privateOnly = exportTo.Count == 1 && (exportTo.Contains(".") || exportTo.Contains(ns));
                if (!privateOnly)
                {
                    Merge(For(indexes.Exported, ns), rule, exportTo, version);
                }
                else if (ns == RootNamespace)
                {
                    Merge(indexes.RootNamespaceLocal, rule, exportTo, version);
                }
            }
            return indexes;
        }

        private static HostRules For(Dictionary<string, HostRules> byNamespace, string ns)
        {
            if (!byNamespace.TryGetValue(ns, out var index))
            {
                byNamespace[ns] = index = new();
            }
            return index;
        }

        // destination_rule.go mergeDestinationRule. Up to 1.23 a rule for a host already indexed is merged into every
        // entry but one with another workloadSelector (the entry takes the first explicit exportTo). From 1.24
        // (ENABLE_ENHANCED_DESTINATIONRULE_MERGE) only into an entry with the same exportTo or whose non-empty exportTo
        // the rule's covers. Both without a workloadSelector, or both with equal ones: merged, not appended; one with
        // and one without: merged, and appended unless an earlier comparison decided otherwise. As Istio's loop
        // does, the last entry that decides whether the rule is appended wins.
        private static void Merge(HostRules index, IstioDestinationRule rule, IReadOnlySet<string> exportTo, IstioVersion version)
        {
            if (!index.TryGetValue(rule.Host, out var entries))
            {
                index.Add(rule.Host, [new ConsolidatedRule(rule, exportTo)]);
                return;
            }
            var enhanced = !version.MergesDestinationRulesWithDifferentExportTo;
            var appendSeparately = true;
            for (var i = 0; i < entries.Count; i++)
            {
                var existing = entries[i];
                if (enhanced)
                {
                    var covers = existing.ExportTo.Count > 0 && exportTo.IsSupersetOf(existing.ExportTo);
                    if (!exportTo.SetEquals(existing.ExportTo) && !covers)
                    {
                        appendSeparately = true;
                        continue;
                    }
                    // The same exportTo: merged only; one that covers the entry's: merged and appended as well.
                    appendSeparately = !exportTo.SetEquals(existing.ExportTo);
                }
                var bothWithout = rule.WorkloadSelector is null && existing.Rule.WorkloadSelector is null;
                var bothWith = rule.WorkloadSelector is not null && existing.Rule.WorkloadSelector is not null;
                // labels.Instance.Equals (maps.Equal): no selector equals an empty one.
                var selectorsMatch = SameLabels(existing.Rule.WorkloadSelector, rule.WorkloadSelector);
                if (bothWith && !selectorsMatch)
                {
                    // 1.22/1.23 leave appendSeparately as it was; from 1.24 it is set again.
                    appendSeparately = appendSeparately || enhanced;
                    continue;
                }
                if (bothWithout || ((enhanced ? bothWith : rule.WorkloadSelector is not null) && selectorsMatch))
                {
                    appendSeparately = false;
                }
                var mergedExportTo = !enhanced && existing.ExportTo.Count == 0 && exportTo.Count > 0 ? exportTo : existing.ExportTo;
                var names = existing.Rule.Subsets.Select(s => s.Name).ToHashSet(StringComparer.Ordinal);
                entries[i] = new ConsolidatedRule(existing.Rule with
                {
                    // Subsets of a name already there are dropped; the first rule's trafficPolicy stays unless it has none.
                    Subsets = [.. existing.Rule.Subsets, .. rule.Subsets.Where(s => names.Add(s.Name))],
                    TrafficPolicy = existing.Rule.TrafficPolicy ?? rule.TrafficPolicy,
                }, mergedExportTo);
            }
            if (appendSeparately)
            {
                entries.Add(new ConsolidatedRule(rule, exportTo));
            }
        }

        private static bool SameLabels(IReadOnlyDictionary<string, string>? a, IReadOnlyDictionary<string, string>? b) =>
            (a?.Count ?? 0) == (b?.Count ?? 0) && (a is null || a.All(l => b!.TryGetValue(l.Key, out var v) && v == l.Value));
    }

    private sealed partial class ProxyTranslation
    {
        // ---- DestinationRules: push_context.go setDestinationRules / destinationRule, destination_rule.go
        // mergeDestinationRule, sidecar.go SidecarScope.DestinationRule ----

        private RuleIndexes? _ruleIndexes;

        // push_context.go destinationRule: the proxy's namespace first (the root namespace's private rules for a proxy
        // there), then the rules the service's namespace exports to the proxy, then those the root namespace exports;
        // in each, the most specific host (exact, then the longest wildcard). Of the host's consolidated entries the
        // proxy uses one (SidecarScope.DestinationRule, outbound).
        private IstioDestinationRule? FindDestinationRule(Service service)
        {
            var indexes = _ruleIndexes ??= RuleIndexes.Build(config.OfKind<IstioDestinationRule>(), NamespaceOf, Version);
            var found = proxyNamespace != RootNamespace
                ? MostSpecific(indexes.NamespaceLocal.GetValueOrDefault(proxyNamespace), service.Host)
                : MostSpecific(indexes.RootNamespaceLocal, service.Host);
            found ??= ExportedFrom(service.Namespace) ?? ExportedFrom(RootNamespace);
            return found is null ? null : ForThisProxy(found);

            // getExportedDestinationRuleFromNamespace: only the entries exported to the proxy's namespace.
            List<ConsolidatedRule>? ExportedFrom(string owner)
            {
                var visible = MostSpecific(indexes.Exported.GetValueOrDefault(owner), service.Host)?
                    .Where(e => e.ExportTo.Count == 0 || e.ExportTo.Contains("*") || e.ExportTo.Contains(proxyNamespace))
                    .ToList();
                return visible is { Count: > 0 } ? visible : null;
            }
        }

        // sidecar.go SidecarScope.DestinationRule (outbound): in the entries' order, the first rule of the proxy's own
        // namespace whose workloadSelector the proxy's labels include (labels.Instance.SubsetOf: an empty selector
        // selects every proxy); else the last entry without a workloadSelector; else none. The proxy's labels: the
        // calling workload's pod labels for the sidecar, the egress gateway's pod labels for the gateway.
        private IstioDestinationRule? ForThisProxy(List<ConsolidatedRule> entries)
        {
            var labels = isGateway ? environment.GatewayLabels : environment.WorkloadLabels;
            IstioDestinationRule? catchAll = null;
            foreach (var entry in entries)
            {
                if (entry.Rule.WorkloadSelector is not { } selector)
                {
                    catchAll = entry.Rule;
                }
                else if (NamespaceOf(entry.Rule) == proxyNamespace
                    && selector.All(l => labels.TryGetValue(l.Key, out var value) && value == l.Value))
                {
                    return entry.Rule;
                }
            }
            return catchAll;
        }

        // config.go MostSpecificHostMatch: the exact host, else the longest wildcard whose suffix the host ends with.
        private static List<ConsolidatedRule>? MostSpecific(HostRules? index, string host)
        {
            if (index is null)
            {
                return null;
            }
            if (index.TryGetValue(host, out var exact))
            {
                return exact;
            }
            return index.WildcardHosts
                .Where(key => host.EndsWith(key.AsSpan(1), StringComparison.OrdinalIgnoreCase))
                .OrderByDescending(key => key.Length)
                .Select(key => index[key])
                .FirstOrDefault();
        }

        private readonly SubsetLookup _subsets = new();
    }

    /// <summary>One index of consolidated rules, host → entries, with its wildcard hosts (<c>*…</c>) in insertion order.</summary>
    private sealed class HostRules
    {
        private readonly Dictionary<string, List<ConsolidatedRule>> _byHost = new(StringComparer.OrdinalIgnoreCase);

        public List<string> WildcardHosts { get; } = [];

        public List<ConsolidatedRule> this[string host] => _byHost[host];

        public bool TryGetValue(string host, [System.Diagnostics.CodeAnalysis.MaybeNullWhen(false)] out List<ConsolidatedRule> entries) =>
            _byHost.TryGetValue(host, out entries);

        public void Add(string host, List<ConsolidatedRule> entries)
        {
            _byHost.Add(host, entries);
            if (host.StartsWith('*'))
            {
                WildcardHosts.Add(host);
            }
        }
    }
}
