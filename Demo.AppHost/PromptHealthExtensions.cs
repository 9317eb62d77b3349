using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Aspire.Hosting;

/// <summary>
/// Notices a resource becoming healthy within <see cref="PromptHealthCheck.PollInterval"/> of it answering, instead of
/// at Aspire's next poll. Aspire 13's resource health monitor (<c>ResourceHealthCheckService</c>) runs a resource's
/// checks as soon as it is Running — which for a project is when <c>dotnet run</c> starts, a second or more before the
/// app listens — and then, while unhealthy, again after 1, 2, 3, 4, 5 s (its step interval times the failure count).
/// An app that listens 3.2 s after its launch is therefore seen healthy at 6 s, and every <c>WaitFor</c> on it waits
/// the difference.
/// </summary>
internal static class PromptHealthExtensions
{
    /// <summary>Wraps every health check registered in the AppHost (the resources' checks) in a <see cref="PromptHealthCheck"/>.</summary>
    public static IDistributedApplicationBuilder NoticeHealthyResourcesPromptly(this IDistributedApplicationBuilder builder)
    {
        builder.Services.PostConfigure<HealthCheckServiceOptions>(options =>
        {
            foreach (var registration in options.Registrations)
            {
                var inner = registration.Factory;
                var state = new PromptHealthCheck.State();
                registration.Factory = services => new PromptHealthCheck(() => inner(services), state, TimeProvider.System);
            }
        });
        return builder;
    }
}

/// <summary>
/// A health check that, while the check it wraps has not reported Healthy or Degraded since it started (or since it
/// last reported Unhealthy), retries it every <see cref="PollInterval"/> within one run until it is no longer
/// Unhealthy, for at most the patience (<see cref="DefaultPatience"/>), and returns that result. Once it has been
/// Healthy, a failure is reported at once (one call), so a resource going down shows as promptly as without it; the
/// run after that waits for the recovery the same way.
/// </summary>
/// <param name="inner">Creates the wrapped check (called per attempt, as the health check service would per run).</param>
/// <param name="state">Whether the wrapped check last answered (Healthy or Degraded); shared by the runs of one registration.</param>
/// <param name="patience">How long one run keeps retrying; <see cref="DefaultPatience"/> when null.</param>
internal sealed class PromptHealthCheck(Func<IHealthCheck> inner, PromptHealthCheck.State state, TimeProvider time, TimeSpan? patience = null)
    : IHealthCheck
{
    /// <summary>How often a not-yet-healthy check is retried within one run: 100 ms.</summary>
    public static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(100);

    /// <summary>The longest one run of a not-yet-healthy check keeps retrying before it reports Unhealthy: 10 s.</summary>
    public static readonly TimeSpan DefaultPatience = TimeSpan.FromSeconds(10);

    /// <summary>Shared by the runs of one registration.</summary>
    public sealed class State
    {
        /// <summary>The wrapped check's last result was Healthy or Degraded.</summary>
        public volatile bool Answered;
    }

    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var started = time.GetTimestamp();
        var limit = patience ?? DefaultPatience;
        var result = await inner().CheckHealthAsync(context, cancellationToken).ConfigureAwait(false);
        if (result.Status == HealthStatus.Unhealthy && !state.Answered)
        {
            while (result.Status == HealthStatus.Unhealthy && time.GetElapsedTime(started) + PollInterval < limit)
            {
                await Task.Delay(PollInterval, time, cancellationToken).ConfigureAwait(false);
                result = await inner().CheckHealthAsync(context, cancellationToken).ConfigureAwait(false);
            }
        }
        state.Answered = result.Status != HealthStatus.Unhealthy;
        return result;
    }
}
