using System.Globalization;
using Demo.EgressGateway.Istio;

namespace Demo.EgressGateway.Envoy;

// istiod route/retry/retry.go: VirtualService retries → Envoy retry policy.
public static partial class IstioTranslator
{
    /// <summary>Istio's retry translation (retry.go ConvertPolicy) for <paramref name="version"/>.</summary>
    /// <returns>Null when <c>attempts</c> is 0 (retries disabled).</returns>
    public static RetryPolicy? ConvertRetryPolicy(HttpRetry? retries, IstioVersion version)
    {
        IReadOnlyList<int> defaultCodes = version.DefaultRetryPolicyRetries503 ? [503] : [];
        IReadOnlyList<RetryHostPredicate> previousHosts = [new("envoy.retry_host_predicates.previous_hosts")];
        if (retries is null)
        {
            return new RetryPolicy(DefaultRetryOn, 2, null, previousHosts, 5, defaultCodes, null);
        }
        if (retries.Attempts <= 0)
        {
            return null;
        }
        var retryOn = DefaultRetryOn;
        var codes = defaultCodes;
        if (!string.IsNullOrEmpty(retries.RetryOn))
        {
            (retryOn, codes) = ParseRetryOn(retries.RetryOn);
            if (codes.Count > 0 && !retryOn.Contains("retriable-status-codes", StringComparison.Ordinal))
            {
                retryOn += ",retriable-status-codes";
            }
        }
        var predicates = retries.RetryIgnorePreviousHosts is false ? [] : previousHosts;
        return new RetryPolicy(retryOn, retries.Attempts, retries.PerTryTimeout, predicates, 5, codes,
            retries.Backoff is { } backoff ? new RetryBackOff(backoff) : null);
    }

    // Integers that Go's http.StatusText knows are status codes; anything else stays a retry_on condition.
    private static (string RetryOn, IReadOnlyList<int> Codes) ParseRetryOn(string retryOn)
    {
        var codes = new List<int>();
        var conditions = new List<string>();
        foreach (var raw in retryOn.Split(','))
        {
            var part = raw.Trim();
            if (part.Length == 0)
            {
                continue;
            }
            if (int.TryParse(part, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var code) && RetryConditions.IsKnownStatus(code))
            {
                codes.Add(code);
            }
            else
            {
                conditions.Add(part);
            }
        }
        return (string.Join(',', conditions), codes);
    }
}
