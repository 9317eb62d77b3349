using Demo.EgressGateway.Istio;
using Polly;
using Polly.Retry;
using Polly.Timeout;

namespace Demo.EgressGateway.Mesh;

/// <summary>
/// A route's retry policy with Envoy's semantics, as Istio configures it. When a VirtualService route has no
/// <c>retries</c>, Istio's default applies: 2 retries on connect-failure, refused-stream, unavailable, cancelled
/// and retriable-status-codes (with no codes listed).
/// </summary>
public sealed class RetryPolicy
{
    public static readonly TimeSpan DefaultBaseInterval = TimeSpan.FromMilliseconds(25);
    public static readonly RetryPolicy IstioDefault = new(2, null, "connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes", null);

    private readonly bool _on5xx;
    private readonly bool _onGatewayError;
    private readonly bool _onReset;
    private readonly bool _onConnectFailure;
    private readonly bool _onRetriable4xx;
    private readonly HashSet<int> _statusCodes = [];

    public RetryPolicy(int attempts, TimeSpan? perTryTimeout, string? retryOn, TimeSpan? backoff)
    {
        Attempts = attempts;
        PerTryTimeout = perTryTimeout;
        BaseInterval = backoff ?? DefaultBaseInterval;
        MaxInterval = BaseInterval * 10;
        RetryOn = retryOn ?? "";
        foreach (var condition in RetryOn.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            switch (condition)
            {
                case "5xx": _on5xx = true; break;
                case "gateway-error": _onGatewayError = true; break;
                case "reset": _onReset = true; break;
                case "connect-failure": _onConnectFailure = true; break;
                case "retriable-4xx": _onRetriable4xx = true; break;
                default:
                    // Istio turns plain codes into Envoy's retriable_status_codes (and adds retriable-status-codes).
                    if (RetryConditions.IsStatusCode(condition, out var status))
                    {
                        _statusCodes.Add(status);
                    }
                    break;
            }
        }
    }

    public static RetryPolicy From(HttpRetry? retries) =>
        retries is null ? IstioDefault : new RetryPolicy(retries.Attempts, retries.PerTryTimeout, retries.RetryOn, retries.Backoff);

    public int Attempts { get; }
    public TimeSpan? PerTryTimeout { get; }
    public string RetryOn { get; }
    public TimeSpan BaseInterval { get; }
    public TimeSpan MaxInterval { get; }

    public bool RetriesStatus(int status) =>
        (_on5xx && status >= 500)
        || (_onGatewayError && status is 502 or 503 or 504)
        || (_onRetriable4xx && status == 409)
        || _statusCodes.Contains(status);

    /// <summary>No response at all: disconnect, reset, or a per-try timeout.</summary>
    public bool RetriesReset => _on5xx || _onGatewayError || _onReset;

    public bool RetriesConnectFailure => RetriesReset || _onConnectFailure;

    public bool ShouldRetry(Outcome<AttemptOutcome> outcome)
    {
        if (outcome.Exception is TimeoutRejectedException)
        {
            return RetriesReset;
        }
        if (outcome.Exception is not null || outcome.Result.LocalReply)
        {
            return false;
        }
        var result = outcome.Result;
        return result.Kind switch
        {
            OutcomeKind.ConnectFailure => RetriesConnectFailure,
            OutcomeKind.Reset => RetriesReset,
            _ => !result.Committed && RetriesStatus(result.Status),
        };
    }

    /// <summary>Envoy's fully jittered exponential back-off: uniform in [0, (2^n − 1) × base], capped at 10 × base.</summary>
    public TimeSpan Backoff(int attemptNumber)
    {
        // In double: a backoff of days times 2^20 overflows a long.
        var ceiling = Math.Min(BaseInterval.Ticks * (double)((1L << Math.Min(attemptNumber + 1, 20)) - 1), MaxInterval.Ticks);
        return Timer(TimeSpan.FromTicks((long)(Random.Shared.NextDouble() * ceiling)));
    }

    /// <summary>
    /// The longest timer .NET can arm (about 24.8 days; CancelAfter and Task.Delay throw beyond it). The loader
    /// accepts durations up to 10 years, as Istio does: longer ones wait this long, which is as good as forever.
    /// </summary>
    public static readonly TimeSpan MaxTimer = TimeSpan.FromMilliseconds(int.MaxValue);

    private static TimeSpan Timer(TimeSpan value) => value > MaxTimer ? MaxTimer : value;

    /// <summary>Route timeout outside, retries inside it, per-try timeout innermost — as Envoy's router nests them.</summary>
    public ResiliencePipeline<AttemptOutcome> BuildPipeline(TimeSpan? routeTimeout)
    {
        var builder = new ResiliencePipelineBuilder<AttemptOutcome>();
        if (routeTimeout is { } timeout)
        {
            builder.AddTimeout(new TimeoutStrategyOptions { TimeoutGenerator = _ => ValueTask.FromResult(Timer(timeout)) });
        }
        if (Attempts > 0)
        {
            builder.AddRetry(new RetryStrategyOptions<AttemptOutcome>
            {
                MaxRetryAttempts = Attempts,
                ShouldHandle = args => ValueTask.FromResult(ShouldRetry(args.Outcome)),
                DelayGenerator = args => ValueTask.FromResult<TimeSpan?>(Backoff(args.AttemptNumber)),
            });
        }
        if (PerTryTimeout is { } perTry)
        {
            builder.AddTimeout(new TimeoutStrategyOptions { TimeoutGenerator = _ => ValueTask.FromResult(Timer(perTry)) });
        }
        return builder.Build();
    }
}

public enum OutcomeKind
{
    /// <summary>An HTTP response: from the upstream, or a local reply of an inner proxy stage.</summary>
    Response,
    ConnectFailure,
    Reset,
}

/// <summary>
/// The result of one attempt. <see cref="Committed"/>: the response has been handed to the client and cannot be
/// retried any more; otherwise it was held back because a proxy stage is going to retry it.
/// </summary>
public readonly record struct AttemptOutcome(OutcomeKind Kind, int Status, bool Committed, ResponseFlags Flags, string? Detail = null)
{
    /// <summary>Made by the proxy stage that owns the retry pipeline: that stage never retries its own replies.</summary>
    public bool LocalReply { get; init; }

    public static AttemptOutcome Failure(OutcomeKind kind, ResponseFlags flags, string detail) => new(kind, 0, false, flags, detail);
}
