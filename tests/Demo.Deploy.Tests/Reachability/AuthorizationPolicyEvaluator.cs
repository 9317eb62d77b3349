namespace Demo.Deploy.Tests.Reachability;

/// <summary>What an Istio proxy knows about a request when it applies AuthorizationPolicies.</summary>
/// <param name="Principal">The peer's SPIFFE identity without <c>spiffe://</c>, null for plain text (no mTLS).</param>
/// <param name="Host">The Host/:authority header.</param>
/// <param name="Port">The destination port the proxy received the request on.</param>
/// <param name="Sni">The SNI of the connection the request came on (<c>connection.sni</c>), null without TLS or SNI.</param>
/// <param name="Tcp">A connection on a TCP filter chain (no HTTP manager): HTTP-only fields cannot be evaluated.</param>
internal sealed record AuthorizationRequest(string? Principal, string Host, int Port, string? Sni = null, bool Tcp = false)
{
    /// <summary>The namespace part of the principal (<c>cluster.local/ns/&lt;ns&gt;/sa/&lt;sa&gt;</c>), null without one.</summary>
    public string? SourceNamespace => Principal?.Split('/') is [_, "ns", var ns, "sa", _] ? ns : null;
}

/// <summary>
/// Istio's AuthorizationPolicy semantics (istio.io reference security/authorization-policy, and the RBAC filters
/// pilot/pkg/security/authz builds): the policies of the workload's namespace whose selector matches it (none: all
/// workloads there) and those of the root namespace apply. A request is denied if any DENY policy matches it; else
/// allowed if no ALLOW policy applies, or one matches. A policy matches if any of its rules does (no rules: never;
/// a rule <c>{}</c>: always); a rule matches if any <c>from</c> source and any <c>to</c> operation match (a missing
/// list matches all); within a source or operation every given field must match. Principals, namespaces and hosts
/// match exactly, with one leading or trailing <c>*</c> as a suffix or prefix match, and <c>*</c> alone as "present";
/// hosts are case-insensitive. Without mTLS there is no principal or namespace: <c>principals</c> cannot match and
/// <c>notPrincipals</c> always does. On a TCP chain the HTTP-only fields (<c>hosts</c>, <c>notHosts</c>) are dropped from a
/// DENY rule — which then matches more — and make an ALLOW rule match nothing (pilot/pkg/security/authz/model/model.go
/// <c>Generate</c> for TCP; Istio's authz-tcp task). Of the <c>when</c> conditions only <c>connection.sni</c> is modelled
/// (others throw); CUSTOM policies are not.
/// </summary>
internal sealed class AuthorizationPolicyEvaluator(IstioConfig config, string rootNamespace)
{
    public Decision Evaluate(Pod workload, AuthorizationRequest request)
    {
        var applicable = config.AuthorizationPolicies
            .Where(p => (p.Namespace == workload.Namespace || p.Namespace == rootNamespace) && LabelSelectors.Matches(p.Selector, workload.Labels))
            .ToList();
        if (applicable.FirstOrDefault(p => p.Action is not ("ALLOW" or "DENY")) is { } other)
        {
            throw new NotSupportedException($"AuthorizationPolicy {other.Namespace}/{other.Name}: action {other.Action} is not modelled");
        }
        if (applicable.FirstOrDefault(p => p.Action == "DENY" && Matches(p, request)) is { } deny)
        {
            return Decision.Deny("AuthorizationPolicy", $"DENY policy {deny.Namespace}/{deny.Name} on {workload} matches {Describe(request)}");
        }
        var allows = applicable.Where(p => p.Action == "ALLOW").ToList();
        if (allows.Count == 0)
        {
            return Decision.Allow($"AuthorizationPolicy: no ALLOW policy on {workload}, no DENY matches {Describe(request)}");
        }
        return allows.FirstOrDefault(p => Matches(p, request)) is { } allow
            ? Decision.Allow($"AuthorizationPolicy: ALLOW policy {allow.Namespace}/{allow.Name} on {workload} matches {Describe(request)}")
            : Decision.Deny("AuthorizationPolicy", $"no ALLOW policy on {workload} ({string.Join(", ", allows.Select(a => a.Name))}) matches {Describe(request)}");
    }

    private static string Describe(AuthorizationRequest r) => $"{r.Principal ?? "(no principal: plain text)"} -> {r.Host}:{r.Port}";

    public static bool Matches(AuthorizationPolicy policy, AuthorizationRequest request) =>
        policy.Rules.Any(rule =>
            !(request.Tcp && policy.Action == "ALLOW" && rule.To?.Any(HasHttpOnlyFields) == true)
            && (rule.From is null || rule.From.Count == 0 || rule.From.Any(s => SourceMatches(s, request)))
            && (rule.To is null || rule.To.Count == 0 || rule.To.Any(o => OperationMatches(o, request)))
            && (rule.When is null || rule.When.All(c => ConditionMatches(c, request))));

    private static bool HasHttpOnlyFields(AuthorizationOperation operation) => operation.Hosts is not null || operation.NotHosts is not null;

    private static bool ConditionMatches(AuthorizationCondition condition, AuthorizationRequest request) => condition.Key switch
    {
        "connection.sni" => Include(condition.Values, request.Sni, ignoreCase: false) && Exclude(condition.NotValues, request.Sni, ignoreCase: false),
        _ => throw new NotSupportedException($"AuthorizationPolicy condition '{condition.Key}' is not modelled"),
    };

    private static bool SourceMatches(AuthorizationSource source, AuthorizationRequest request) =>
        Include(source.Principals, request.Principal, ignoreCase: false)
        && Exclude(source.NotPrincipals, request.Principal, ignoreCase: false)
        && Include(source.Namespaces, request.SourceNamespace, ignoreCase: false)
        && Exclude(source.NotNamespaces, request.SourceNamespace, ignoreCase: false);

    private static bool OperationMatches(AuthorizationOperation operation, AuthorizationRequest request)
    {
        var port = request.Port.ToString(System.Globalization.CultureInfo.InvariantCulture);
        return (request.Tcp || (Include(operation.Hosts, request.Host, ignoreCase: true) && Exclude(operation.NotHosts, request.Host, ignoreCase: true)))
            && Include(operation.Ports, port, ignoreCase: false)
            && Exclude(operation.NotPorts, port, ignoreCase: false);
    }

    private static bool Include(IReadOnlyList<string>? patterns, string? value, bool ignoreCase) =>
        patterns is null || patterns.Any(p => StringMatches(p, value, ignoreCase));

    private static bool Exclude(IReadOnlyList<string>? patterns, string? value, bool ignoreCase) =>
        patterns is null || !patterns.Any(p => StringMatches(p, value, ignoreCase));

    /// <summary>Istio's string match for policy values (pilot/pkg/security/authz/matcher): exact, *suffix, prefix*, * = present.</summary>
    public static bool StringMatches(string pattern, string? value, bool ignoreCase)
    {
        if (value is null)
        {
            return false;
        }
        var comparison = ignoreCase ? StringComparison.OrdinalIgnoreCase : StringComparison.Ordinal;
        return pattern == "*"
            || (pattern.StartsWith('*') && value.EndsWith(pattern[1..], comparison))
            || (pattern.EndsWith('*') && value.StartsWith(pattern[..^1], comparison))
            || string.Equals(pattern, value, comparison);
    }
}
