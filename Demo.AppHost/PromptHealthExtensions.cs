using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Aspire.Hosting;

/// <summary>
/// Notices a resource becoming healthy within <see cref="PollInterval"/> of it answering, instead of at Aspire's next
/// poll. Aspire 13's resource health monitor (<c>ResourceHealthCheckService</c>) runs a resource's checks as soon as it
/// is Running — which for a project is when <c>dotnet run</c> starts, seconds before the app listens — and then, while
/// unhealthy, again after 1, 2, 3, 4, 5 s (the step interval times the failure count). An app that listens 3.2 s after
/// its launch is therefore seen healthy at 6 s, and every <c>WaitFor</c> on it waits the difference.
/// </summary>
/// <remarks>
/// Each check of the AppHost is wrapped: while the check has not reported Healthy or Degraded since the AppHost started
/// (or since it last reported Unhealthy), one run of it retries the inner check every <see cref="PollInterval"/> until
/// it is no longer Unhealthy, for at most <see cref="Patience"/>, and returns that result. A check that was Healthy
/// and fails reports Unhealthy at once, so a resource going down shows as promptly as before; the next run then waits
/// for the recovery the same way.
/// </remarks>
internal static class PromptHealthExtensions
{
    /// <summary>How often a not-yet-healthy check is retried within one run: 100 ms.</summary>
    public static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(100);

    /// <summary>The longest one run of a not-yet-healthy check keeps retrying before it reports Unhealthy: 10 s.</summary>
    public static readonly TimeSpan Patience = TimeSpan.FromSeconds(10);

    /// <summary>Wraps every health check registered in the AppHost (the resources' checks) as described on the class.</summary>
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

    private sealed class PromptHealthCheck(Func<IHealthCheck> inner, PromptHealthCheck.State state, TimeProvider time) : IHealthCheck
    {
        public sealed class State
        {
            public volatile bool Answered;
        }

        public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
        {
            var started = time.GetTimestamp();
            var result = await inner().CheckHealthAsync(context, cancellationToken).ConfigureAwait(false);
            if (result.Status != HealthStatus.Unhealthy)
            {
                state.Answered = true;
                return result;
            }
            if (state.Answered)
            {
                state.Answered = false;
                return result;
            }
            while (result.Status == HealthStatus.Unhealthy && time.GetElapsedTime(started) + PollInterval < Patience)
            {
                await Task.Delay(PollInterval, time, cancellationToken).ConfigureAwait(false);
                result = await inner().CheckHealthAsync(context, cancellationToken).ConfigureAwait(false);
            }
            state.Answered = result.Status != HealthStatus.Unhealthy;
            return result;
        }
    }
}
