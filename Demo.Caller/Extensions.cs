using Microsoft.Extensions.Options;

namespace Demo.Caller;

public static class Extensions
{
    public static void AddCaller(this IHostApplicationBuilder builder)
    {
        builder.Services.AddOptions<CallerOptions>()
            .BindConfiguration(CallerOptions.SectionName)
            .ValidateDataAnnotations()
            .Validate(o => o.ProxyUrl.IsAbsoluteUri, "Caller:ProxyUrl must be an absolute URL such as http://proxy/.")
            .ValidateOnStart();

        // No resilience handler: every tick is one call and one line, so faults stay visible.
        builder.Services.AddHttpClient<ProxyClient>((services, http) =>
        {
            var options = services.GetRequiredService<IOptions<CallerOptions>>().Value;
            http.BaseAddress = options.ProxyUrl;
            http.Timeout = Timeout.InfiniteTimeSpan;
        });

        builder.Services.AddSingleton(TimeProvider.System);
        builder.Services.AddSingleton<ICallerOutput, ConsoleCallerOutput>();
        builder.Services.AddSingleton<CallerMetrics>();
        if (builder.IsTelemetryExported())
        {
            builder.Services.AddOpenTelemetry().WithMetrics(m => m.AddMeter(CallerMetrics.MeterName));
        }
        builder.Services.AddHostedService<CallerWorker>();
    }
}
