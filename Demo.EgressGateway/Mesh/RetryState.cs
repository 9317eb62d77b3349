using Polly;
using Polly.Retry;
using Polly.Timeout;

namespace Demo.EgressGateway.Mesh;

/// <summary>
/// Envoy's retry state (<c>source/common/router/retry_state_impl.cc</c>) for a route: its <c>retry_on</c> conditions
/// parsed once into flags, the number of retries and the back-off, deciding after each try whether the router tries again.
/// Envoy builds one per request because request headers (<c>x-envoy-retry-on</c>, …) can change it; the sidecar here
/// honours none of those, so one per route serves every request. It executes Envoy's <c>retry_policy</c> as istiod wrote it (see
/// <see cref="Envoy.IstioTranslator.ConvertRetryPolicy"/>): <c>retry_on</c> conditions, <c>num_retries</c>,
/// <c>retriable_status_codes</c> (only with the <c>retriable-status-codes</c> condition), <c>per_try_timeout</c>
/// and the jittered back-off. Conditions that concern gRPC status or HTTP/2 stream refusal (<c>unavailable</c>,
/// <c>cancelled</c>, <c>refused-stream</c>, …) never match an HTTP/1.1 upstream's answer.
/// </summary>
public sealed class RetryState
{
    public static readonly TimeSpan DefaultBaseInterval = Envoy.IstioTranslator.DefaultRetryBaseInterval;

    /// <summary>No retry_policy on the route (Istio: <c>attempts: 0</c>).</summary>
    public static readonly RetryState None = new(null);

    private readonly bool _on5xx;
    private readonly bool _onGatewayError;
    private readonly bool _onReset;
    private readonly bool _onResetBeforeRequest;
    private readonly bool _onConnectFailure;
    private readonly bool _onRetriable4xx;
    private readonly HashSet<int> _statusCodes = [];

    /// <param name="policy">The route's retry_policy; null: none.</param>
    /// <param name="routeTimeout">
    /// The route's timeout (null: none). A per-try timeout not shorter than it is ignored, as in Envoy's
    /// <c>FilterUtility::finalTimeout</c> (source/common/router/router.cc: "If it's &gt;= global we just ignore it").
    /// </param>
    public RetryState(Envoy.RetryPolicy? policy, TimeSpan? routeTimeout = null)
    {
        Config = policy;
        Attempts = policy?.NumRetries ?? 0;
        PerTryTimeout = policy?.PerTryTimeout is { } perTry && (routeTimeout is not { } route || perTry < route) ? perTry : null;
        BaseInterval = policy?.BaseInterval ?? DefaultBaseInterval;
        MaxInterval = BaseInterval * 10;
        RetryOn = policy?.RetryOn ?? "";
        AvoidPreviousHosts = policy?.RetryHostPredicate.Count > 0;
        var retriableStatusCodes = false;
        foreach (var condition in RetryOn.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            switch (condition)
            {
                case "5xx": _on5xx = true; break;
                case "gateway-error": _onGatewayError = true; break;
                case "reset": _onReset = true; break;
                case "reset-before-request": _onResetBeforeRequest = true; break;
                case "connect-failure": _onConnectFailure = true; break;
                case "retriable-4xx": _onRetriable4xx = true; break;
                case "retriable-status-codes": retriableStatusCodes = true; break;
            }
        }
        if (retriableStatusCodes)
        {
            foreach (var code in policy?.RetriableStatusCodes ?? [])
            {
                _statusCodes.Add(code);
            }
        }
    }

    /// <summary>The Envoy retry_policy this executes; null: the route has none.</summary>
    public Envoy.RetryPolicy? Config { get; }

    /// <summary>The retry host predicate <c>previous_hosts</c>: a retry prefers a host not tried yet.</summary>
    public bool AvoidPreviousHosts { get; }

    public int Attempts { get; }

    /// <summary>The per-try timeout in effect: null when there is none or when it is not shorter than the route timeout.</summary>
    public TimeSpan? PerTryTimeout { get; }
    public string RetryOn { get; }
    public TimeSpan BaseInterval { get; }
    public TimeSpan MaxInterval { get; }

    public bool RetriesStatus(int status) =>
        (_on5xx && status >= 500)
        || (_onGatewayError && status is 502 or 503 or 504)
        || (_onRetriable4xx && status == 409)
        || _statusCodes.Contains(status);

    /// <summary>No response at all: disconnect, reset, or a per-try timeout (Envoy's wouldRetryFromReset).</summary>
    public bool RetriesReset => _on5xx || _onGatewayError || _onReset;

    /// <summary>A connection that could not be made: nothing reached the upstream, so reset-before-request retries it too.</summary>
    public bool RetriesConnectFailure => RetriesReset || _onConnectFailure || _onResetBeforeRequest;

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

    /// <summary>
    /// Envoy's JitteredExponentialBackOffStrategy: before retry n+1 (<paramref name="attemptNumber"/> n, from 0) a
    /// uniform wait in [0, base × 2^n), the bound doubling until it reaches max_interval (10 × base).
    /// </summary>
    public TimeSpan Backoff(int attemptNumber)
    {
        // In double: a backoff of days times 2^20 overflows a long.
        var ceiling = Math.Min(BaseInterval.Ticks * (double)(1L << Math.Min(attemptNumber, 20)), MaxInterval.Ticks);
        return Timer(TimeSpan.FromTicks((long)(Random.Shared.NextDouble() * ceiling)));
    }

    /// <summary>
    /// The longest timer .NET can arm (about 24.8 days; CancelAfter and Task.Delay throw beyond it). The loader
    /// accepts durations up to 10 years, as Istio does: longer ones wait this long, which is as good as forever.
    /// </summary>
    public static readonly TimeSpan MaxTimer = TimeSpan.FromMilliseconds(int.MaxValue);

    /// <summary>The value a timer is armed with: at most <see cref="MaxTimer"/>.</summary>
    public static TimeSpan Timer(TimeSpan value) => value > MaxTimer ? MaxTimer : value;

    /// <summary>
    /// Route timeout outside, retries inside it — as Envoy's router nests them; the per-try timeout, innermost, is each
    /// try's own <see cref="PerTryTimer"/> (armed when its connection is ready, which a Polly timeout cannot express).
    /// </summary>
    /// <param name="admitRetry">Envoy's max_retries circuit breaker, asked before each retry; false: no retry (flag UO).</param>
    public ResiliencePipeline<AttemptOutcome> BuildPipeline(TimeSpan? routeTimeout, Func<ResilienceContext, bool> admitRetry)
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
                ShouldHandle = args => ValueTask.FromResult(ShouldRetry(args.Outcome) && admitRetry(args.Context)),
                DelayGenerator = args => ValueTask.FromResult<TimeSpan?>(Backoff(args.AttemptNumber)),
            });
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
