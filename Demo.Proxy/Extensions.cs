using System.Net;
using Microsoft.Extensions.Options;

namespace Demo.Proxy;

public static class Extensions
{
    public static void AddUpstreamClient(this IHostApplicationBuilder builder)
    {
        builder.Services.AddOptions<UpstreamOptions>()
            .BindConfiguration(UpstreamOptions.SectionName)
            .ValidateDataAnnotations()
            .Validate(o => o.BaseAddress.IsAbsoluteUri && o.BaseAddress.Scheme is "http" or "https",
                "Upstream:BaseAddress must be an absolute http(s) URL such as http://hello.external/.")
            .Validate(o => o.HttpProxy is null || (o.HttpProxy.IsAbsoluteUri && o.HttpProxy.Scheme == "http"),
                "Upstream:HttpProxy must be an absolute http URL of the local egress gateway.")
            .Validate(o => string.IsNullOrEmpty(o.TrustedCaPath) || File.Exists(o.TrustedCaPath),
                "Upstream:TrustedCaPath must name an existing PEM file.")
            .ValidateOnStart();

        var client = builder.Services.AddHttpClient<UpstreamClient>((services, http) =>
            {
                var options = services.GetRequiredService<IOptions<UpstreamOptions>>().Value;
                http.BaseAddress = options.BaseAddress;
                http.Timeout = options.Timeout;
            })
            .ConfigurePrimaryHttpMessageHandler(services =>
            {
                var options = services.GetRequiredService<IOptions<UpstreamOptions>>().Value;
                return new SocketsHttpHandler
                {
                    Proxy = options.HttpProxy is null ? null : new WebProxy(options.HttpProxy),
                    UseProxy = options.HttpProxy is not null,
                    AllowAutoRedirect = false,
                    UseCookies = false,
                    PooledConnectionLifetime = TimeSpan.FromMinutes(2),
                    SslOptions = UpstreamTrust.ClientOptions(options.TrustedCaPath),
                };
            });

        if (builder.Configuration.GetValue<UpstreamClientResilience>($"{UpstreamOptions.SectionName}:{nameof(UpstreamOptions.ClientResilience)}")
            == UpstreamClientResilience.Standard)
        {
            client.AddStandardResilienceHandler();
        }
    }
}
