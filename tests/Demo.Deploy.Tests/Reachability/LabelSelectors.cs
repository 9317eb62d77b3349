using k8s.Models;

namespace Demo.Deploy.Tests.Reachability;

/// <summary>
/// Kubernetes label selectors (apimachinery <c>metav1.LabelSelectorAsSelector</c>): matchLabels and matchExpressions
/// are ANDed; an empty selector matches everything; operators In, NotIn, Exists, DoesNotExist.
/// </summary>
internal static class LabelSelectors
{
    public static bool Matches(V1LabelSelector selector, IReadOnlyDictionary<string, string> labels)
    {
        foreach (var (key, value) in selector.MatchLabels ?? new Dictionary<string, string>())
        {
            if (!labels.TryGetValue(key, out var actual) || actual != value)
            {
                return false;
            }
        }
        foreach (var requirement in selector.MatchExpressions ?? [])
        {
            var has = labels.TryGetValue(requirement.Key, out var actual);
            var values = requirement.Values ?? [];
            var matches = requirement.OperatorProperty switch
            {
                "In" => has && values.Contains(actual!),
                // NotIn matches a pod without the label too (labels.Selector semantics).
                "NotIn" => !has || !values.Contains(actual!),
                "Exists" => has,
                "DoesNotExist" => !has,
                _ => throw new NotSupportedException($"label selector operator '{requirement.OperatorProperty}'"),
            };
            if (!matches)
            {
                return false;
            }
        }
        return true;
    }

    /// <summary>Istio's workload selector (<c>selector.matchLabels</c>): every label must match; none given matches all.</summary>
    public static bool Matches(IReadOnlyDictionary<string, string>? matchLabels, IReadOnlyDictionary<string, string> labels) =>
        matchLabels is null || matchLabels.All(l => labels.TryGetValue(l.Key, out var v) && v == l.Value);
}
