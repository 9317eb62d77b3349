using System.Globalization;

namespace Demo.EgressGateway.Istio;

/// <summary>Envoy's <c>x-envoy-retry-on</c> / <c>retry_on</c> vocabulary, as Istio passes it through.</summary>
public static class RetryConditions
{
    public static readonly IReadOnlyList<string> Known =
    [
        "5xx", "gateway-error", "reset", "reset-before-request", "connect-failure", "envoy-ratelimited",
        "retriable-4xx", "refused-stream", "retriable-status-codes", "retriable-headers", "http3-post-connect-failure",
        "cancelled", "deadline-exceeded", "internal", "resource-exhausted", "unavailable",
    ];

    public static bool IsKnown(string condition) =>
        Known.Contains(condition) || IsStatusCode(condition, out _);

    /// <summary>A code Go's <c>net/http.StatusText</c> names (istiod's test for "this part of retryOn is a status code").</summary>
    public static bool IsStatusCode(string condition, out int status) =>
        int.TryParse(condition, NumberStyles.None, CultureInfo.InvariantCulture, out status) && Envoy.IstioTranslator.IsKnownStatus(status);
}
