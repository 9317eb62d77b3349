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
        int.TryParse(condition, NumberStyles.None, CultureInfo.InvariantCulture, out status) && IsKnownStatus(status);

    /// <summary>The codes Go's <c>net/http.StatusText</c> names (what istiod's parseRetryOn accepts as a code).</summary>
    public static bool IsKnownStatus(int code) => code is (>= 100 and <= 103) or (>= 200 and <= 208) or 226
        or (>= 300 and <= 305) or 307 or 308 or (>= 400 and <= 418) or (>= 421 and <= 426) or 428 or 429 or 431 or 451
        or (>= 500 and <= 508) or 510 or 511;
}
