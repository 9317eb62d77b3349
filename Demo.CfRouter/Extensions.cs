using System.Security.Cryptography.X509Certificates;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Options;

namespace Demo.CfRouter;

public static class Extensions
{
    public static void AddCfRouter(this IHostApplicationBuilder builder)
    {
        builder.Services.AddOptions<CfRouterOptions>()
            .BindConfiguration(CfRouterOptions.SectionName)
            .ValidateDataAnnotations()
            .Validate(o => File.Exists(o.CertificatePath) && File.Exists(o.CertificateKeyPath),
                "CfRouter:CertificatePath and CfRouter:CertificateKeyPath must name existing PEM files.")
            .Validate(o => o.HttpsPort != o.StatusPort, "CfRouter:HttpsPort and CfRouter:StatusPort must differ.")
            .Validate(o => o.TlsVersions != System.Security.Authentication.SslProtocols.None,
                "CfRouter:MinTlsVersion is above CfRouter:MaxTlsVersion: no TLS version is left.")
            .Validate(o => string.IsNullOrEmpty(o.ClientCaCertsPath) || File.Exists(o.ClientCaCertsPath),
                "CfRouter:ClientCaCertsPath must name an existing PEM file.")
            .Validate(o => !(o.OnlyTrustClientCaCerts && o.ClientCertValidation != "none" && string.IsNullOrEmpty(o.ClientCaCertsPath)),
                "router.client_ca_certs cannot be empty if router.only_trust_client_ca_certs is 'true' and router.client_cert_validation is set to 'request' or 'require'.")
            .ValidateOnStart();

        builder.Services.AddOptions<KestrelServerOptions>()
            .Configure<IOptions<CfRouterOptions>>((kestrel, router) => ConfigureListeners(kestrel, router.Value));

        builder.Services.AddHttpForwarder();
        builder.Services.AddSingleton(TimeProvider.System);
        builder.Services.AddSingleton<RouteRegistry>();
        builder.Services.AddSingleton<GorouterTelemetry>();
        builder.Services.AddSingleton<GorouterHandler>();
        builder.Services.AddHostedService<StaleRoutePruner>();
        if (builder.IsTelemetryExported())
        {
            builder.Services.AddOpenTelemetry()
                .WithTracing(t => t.AddSource(GorouterTelemetry.Name))
                .WithMetrics(m => m.AddMeter(GorouterTelemetry.Name));
        }
    }

    // The apps' HTTPS port (HTTP/1.1 with keep-alive, one certificate for the apps domain) and the plain-HTTP status port.
    private static void ConfigureListeners(KestrelServerOptions kestrel, CfRouterOptions options)
    {
        var certificate = X509Certificate2.CreateFromPemFile(options.CertificatePath, options.CertificateKeyPath);
        var clientCertificates = new ClientCertificateValidation(options);
        kestrel.ListenLocalhost(options.HttpsPort, listen =>
        {
            listen.Protocols = HttpProtocols.Http1;
            listen.Use(PlainHttpOnTlsPort.Use);
            listen.UseHttps(https =>
            {
                https.ServerCertificate = certificate;
                https.SslProtocols = options.TlsVersions;
                https.ClientCertificateMode = clientCertificates.Mode;
                https.ClientCertificateValidation = clientCertificates.Validate;
            });
        });
        kestrel.ListenLocalhost(options.StatusPort);
    }

    /// <summary>The router's request pipeline: gorouter on the HTTPS port; health and route registration on the status port.</summary>
    public static WebApplication UseCfRouter(this WebApplication app)
    {
        app.UseGorouter();
        app.MapDefaultEndpoints();
        app.MapRouteRegistrationApi();
        return app;
    }

    /// <summary>Every request on the HTTPS port is routed like gorouter routes it; the status port serves the rest.</summary>
    public static IApplicationBuilder UseGorouter(this WebApplication app)
    {
        var options = app.Services.GetRequiredService<IOptions<CfRouterOptions>>().Value;
        using (var certificate = X509Certificate2.CreateFromPem(File.ReadAllText(options.CertificatePath)))
        {
            var sans = certificate.Extensions.OfType<X509SubjectAlternativeNameExtension>().SelectMany(e => e.EnumerateDnsNames());
            Log.Serving(app.Logger, options.HttpsPort, string.Join(", ", sans), options.StatusPort);
        }
        var handler = app.Services.GetRequiredService<GorouterHandler>();
        return app.MapWhen(context => context.Connection.LocalPort == options.HttpsPort,
            routed => routed.Run(handler.HandleAsync));
    }
}
