using System.Diagnostics;
using System.Security.Cryptography.X509Certificates;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Options;

namespace Demo.CfApps;

public static class Extensions
{
    public static void AddCfApp(this IHostApplicationBuilder builder)
    {
        builder.Services.AddOptions<CfAppOptions>()
            .BindConfiguration(CfAppOptions.SectionName)
            .ValidateDataAnnotations()
            .Validate(o => o.HttpsPort is null || (File.Exists(o.CertificatePath) && File.Exists(o.CertificateKeyPath)),
                "CfApp:HttpsPort is set, so CfApp:CertificatePath and CfApp:CertificateKeyPath must name existing PEM files.")
            .ValidateOnStart();

        // Cloud Foundry's contract: the app serves plain HTTP on $PORT. The .NET buildpack passes it as ASPNETCORE_URLS;
        // where nobody did (the AppHost sets only PORT, one per instance), listen on it here, on loopback.
        var port = builder.Configuration["PORT"];
        var urls = builder.Configuration["ASPNETCORE_URLS"] ?? builder.Configuration["URLS"];
        builder.Services.AddOptions<KestrelServerOptions>()
            .Configure<IOptions<CfAppOptions>>((kestrel, cfApp) => ConfigureLocalListeners(kestrel, cfApp.Value,
                string.IsNullOrEmpty(urls) && int.TryParse(port, out var p) ? p : null));

        builder.Services.AddSingleton(services => InstanceIndex.Claim(builder.Configuration["CF_INSTANCE_INDEX"],
            services.GetRequiredService<IOptions<CfAppOptions>>().Value.InstanceIndexLeases));
        builder.Services.AddHostedService<RouteRegistrar>();
    }

    /// <summary>The app's request pipeline: request log, gorouter-style routing, health and the hello endpoint.</summary>
    public static WebApplication UseCfApp(this WebApplication app)
    {
        app.UseRequestLog();
        app.UseGorouterStyleRouting();
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

    // Benchmarks give the app an HTTPS listener and a plain-HTTP management listener. Otherwise — Cloud Foundry and
    // the local run — Kestrel keeps its defaults: plain HTTP on ASPNETCORE_URLS, which the buildpack (and the AppHost)
    // set to $PORT.
    private static void ConfigureLocalListeners(KestrelServerOptions kestrel, CfAppOptions options, int? port)
    {
        if (port is { } cfPort && options.HttpsPort is null)
        {
            kestrel.ListenLocalhost(cfPort);
        }

        if (options.HttpsPort is { } httpsPort)
        {
            var certificate = X509Certificate2.CreateFromPemFile(options.CertificatePath!, options.CertificateKeyPath!);
            kestrel.ListenLocalhost(httpsPort, listen => listen.UseHttps(certificate));
        }

        if (options.ManagementPort is { } managementPort)
        {
            kestrel.ListenLocalhost(managementPort);
        }
    }

    /// <summary>
    /// Answers like Cloud Foundry's gorouter: a Host that is not one of the app's routes gets 404
    /// <c>unknown_route</c> (behind a router only its routes reach the app, so this matters when it is called
    /// directly). When the app has an HTTPS listener (benchmarks), plain HTTP serves only the health endpoints.
    /// </summary>
    public static IApplicationBuilder UseGorouterStyleRouting(this WebApplication app)
    {
        var options = app.Services.GetRequiredService<IOptions<CfAppOptions>>().Value;
        var routes = options.Routes.ToHashSet(StringComparer.OrdinalIgnoreCase);
        var httpsOnly = options.HttpsPort is not null;

        return app.Use((context, next) =>
        {
            if (IsHealthProbe(context.Request.Path))
            {
                return next(context);
            }

            var host = context.Request.Host.Host;
            if ((httpsOnly && !context.Request.IsHttps) || !routes.Contains(host))
            {
                Log.UnknownRoute(app.Logger, host, context.Request.IsHttps);
                context.Response.StatusCode = StatusCodes.Status404NotFound;
                context.Response.Headers["X-Cf-RouterError"] = "unknown_route";
                context.Response.ContentType = "text/plain";
                return context.Response.WriteAsync($"404 Not Found: Requested route ('{host}') does not exist.\n");
            }

            return next(context);
        });
    }
}
