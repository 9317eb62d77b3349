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

        builder.Services.AddOptions<KestrelServerOptions>()
            .Configure<IOptions<CfAppOptions>>((kestrel, cfApp) => ConfigureLocalListeners(kestrel, cfApp.Value));
    }

    // Locally the app has an HTTPS listener (its CF route) and a plain-HTTP management listener.
    // Without those settings Kestrel keeps its defaults (ASPNETCORE_URLS / PORT in Cloud Foundry).
    private static void ConfigureLocalListeners(KestrelServerOptions kestrel, CfAppOptions options)
    {
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
    /// <c>unknown_route</c>. When the app has an HTTPS listener, plain HTTP serves only the health endpoints.
    /// </summary>
    public static IApplicationBuilder UseGorouterStyleRouting(this WebApplication app)
    {
        var options = app.Services.GetRequiredService<IOptions<CfAppOptions>>().Value;
        var routes = options.Routes.ToHashSet(StringComparer.OrdinalIgnoreCase);
        var httpsOnly = options.HttpsPort is not null;

        return app.Use((context, next) =>
        {
            var path = context.Request.Path;
            if (path.StartsWithSegments(Microsoft.Extensions.Hosting.Extensions.HealthEndpointPath)
                || path.StartsWithSegments(Microsoft.Extensions.Hosting.Extensions.AlivenessEndpointPath))
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
