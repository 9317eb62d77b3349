using System.Diagnostics;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Options;

namespace Demo.CfApps;

public static class Extensions
{
    public static void AddCfApp(this IHostApplicationBuilder builder)
    {
        builder.Services.AddOptions<CfAppOptions>()
            .BindConfiguration(CfAppOptions.SectionName)
            .ValidateOnStart();
        builder.Services.AddSingleton<IValidateOptions<CfAppOptions>, CfAppOptionsValidator>();

        // Cloud Foundry's contract: the app serves plain HTTP on $PORT. The .NET buildpack passes it as ASPNETCORE_URLS;
        // where nobody did (the AppHost sets only PORT, one per instance), listen on it here, on loopback.
        var port = builder.Configuration["PORT"];
        var urls = builder.Configuration["ASPNETCORE_URLS"] ?? builder.Configuration["URLS"];
        if (string.IsNullOrEmpty(urls) && int.TryParse(port, out var cfPort))
        {
            builder.Services.Configure<KestrelServerOptions>(kestrel => kestrel.ListenLocalhost(cfPort));
        }

        builder.Services.AddSingleton(services => InstanceIndex.Claim(builder.Configuration["CF_INSTANCE_INDEX"],
            services.GetRequiredService<IOptions<CfAppOptions>>().Value.InstanceIndexLeases));
        builder.Services.AddHostedService<RouteRegistrar>();
    }

    /// <summary>
    /// The app's request pipeline: request log, health and the hello endpoint. Like any Cloud Foundry app it answers
    /// whatever Host it gets: routes are the router's business (gorouter answers 404 <c>unknown_route</c> for a Host
    /// no app has, and only an app's routes reach it).
    /// </summary>
    public static WebApplication UseCfApp(this WebApplication app)
    {
        app.UseRequestLog();
        app.MapDefaultEndpoints();
        app.MapHelloApi();
        return app;
    }

    /// <summary>One structured log line per request (health probes excepted) with the router's headers and the trace ids.</summary>
    public static IApplicationBuilder UseRequestLog(this WebApplication app) => app.Use(async (context, next) =>
    {
        await next(context);
        var request = context.Request;
        if (IsHealthProbe(request.Path))
        {
            return;
        }
        Log.Request(app.Logger, request.Host.Value ?? "", request.Method, request.Path + request.QueryString, context.Response.StatusCode,
            HeaderOrDash(request, "X-Vcap-Request-Id"), HeaderOrDash(request, "X-Forwarded-For"), HeaderOrDash(request, "X-Forwarded-Proto"),
            HeaderOrDash(request, "X-Request-Start"), Activity.Current?.TraceId.ToString() ?? "-", Activity.Current?.SpanId.ToString() ?? "-");
    });

    private static string HeaderOrDash(HttpRequest request, string name) =>
        request.Headers[name].ToString() is { Length: > 0 } value ? value : "-";

    private static bool IsHealthProbe(PathString path) => Microsoft.Extensions.Hosting.Extensions.IsHealthProbe(path);
}
