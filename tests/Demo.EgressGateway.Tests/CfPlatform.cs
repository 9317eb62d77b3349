using System.Globalization;
using Demo.CfApps;
using Demo.CfRouter;

namespace Demo.EgressGateway.Tests;

/// <summary>
/// The local Cloud Foundry platform in-process, as the AppHost runs it: the real <c>Demo.CfRouter</c> on 127.0.0.1 —
/// HTTPS with one wildcard certificate for the apps domain (<c>*.apps.example.com</c>) issued by the test CA the gateway
/// trusts — and instances of the real <c>Demo.CfApps</c> on plain HTTP (<c>$PORT</c>) that register their routes with it.
/// </summary>
public sealed class CfPlatform : IAsyncDisposable
{
    public const string AppsDomainWildcard = "*.apps.example.com";
    private readonly WebApplication _router;
    private readonly List<WebApplication> _instances = [];

    private CfPlatform(WebApplication router, int httpsPort, int statusPort)
    {
        _router = router;
        HttpsPort = httpsPort;
        StatusPort = statusPort;
    }

    /// <summary>The router's HTTPS port: what DNS gives for every CF host (<c>EgressGateway:Upstreams:&lt;host&gt;</c>).</summary>
    public int HttpsPort { get; }

    /// <summary>The router's status port, where instances register their routes.</summary>
    public int StatusPort { get; }

    /// <summary>The endpoint the gateway dials for every CF host: <c>127.0.0.1:&lt;https port&gt;</c>.</summary>
    public string RouterEndpoint => $"127.0.0.1:{HttpsPort}";

    /// <summary>Starts the router; <paramref name="clientCertValidation"/> is gorouter's <c>client_cert_validation</c>, client certificates verified against the test CA.</summary>
    public static async Task<CfPlatform> StartAsync(string clientCertValidation = "request")
    {
        var certificate = TestCa.Authority.EnsureServerCertificate(AppsDomainWildcard);
        var ports = Demo.Tests.LoopbackPorts.Free(2);
        var (httpsPort, statusPort) = (ports[0], ports[1]);
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions { EnvironmentName = "Test" });
        builder.Logging.ClearProviders();
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["CfRouter:HttpsPort"] = httpsPort.ToString(CultureInfo.InvariantCulture),
            ["CfRouter:StatusPort"] = statusPort.ToString(CultureInfo.InvariantCulture),
            ["CfRouter:CertificatePath"] = certificate.CertificatePath,
            ["CfRouter:CertificateKeyPath"] = certificate.KeyPath,
            ["CfRouter:StartResponseDelayInterval"] = "00:00:00",
            ["CfRouter:ClientCertValidation"] = clientCertValidation,
            ["CfRouter:ClientCaCertsPath"] = TestCa.Authority.CaCertificatePath,
        });
        builder.AddServiceDefaults();
        builder.AddCfRouter();
        var router = builder.Build();
        router.UseCfRouter();
        await router.StartAsync();
        return new CfPlatform(router, httpsPort, statusPort);
    }

    /// <summary>The gateway settings that send both CF hosts to this router, as the platform's DNS does.</summary>
    public Dictionary<string, string?> GatewayUpstreams => new()
    {
        [$"EgressGateway:Upstreams:{GatewayHost.V1Host}"] = RouterEndpoint,
        [$"EgressGateway:Upstreams:{GatewayHost.V2Host}"] = RouterEndpoint,
    };

    /// <summary>The router with <paramref name="instances"/> running instances of each CF app (v1 and v2), routed.</summary>
    public static async Task<CfPlatform> StartWithAppsAsync(int instances = 1, string clientCertValidation = "request")
    {
        var platform = await StartAsync(clientCertValidation);
        for (var i = 0; i < instances; i++)
        {
            await platform.StartInstanceAsync("v1", GatewayHost.V1Host);
            await platform.StartInstanceAsync("v2", GatewayHost.V2Host);
        }
        return platform;
    }

    /// <summary>
    /// Starts one instance of the CF app <paramref name="version"/> (<c>hello-istio-&lt;version&gt;</c>) on its own
    /// <c>$PORT</c> and waits until the router routes <paramref name="route"/> to it.
    /// </summary>
    public async Task StartInstanceAsync(string version, string route)
    {
        var port = GatewayHost.FreePort();
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions { EnvironmentName = "Test" });
        builder.Logging.ClearProviders();
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["PORT"] = port.ToString(CultureInfo.InvariantCulture),
            ["CfApp:Version"] = version,
            ["CfApp:Routes:0"] = route,
            ["CfApp:RouteRegistrar:RouterUrl"] = $"http://127.0.0.1:{StatusPort}",
            ["CfApp:RouteRegistrar:App"] = $"hello-istio-{version}",
            ["CfApp:RouteRegistrar:RegisterInterval"] = "00:00:01",
            ["CfApp:RouteRegistrar:StaleThresholdInSeconds"] = "120", // gorouter's default droplet_stale_threshold: no test here prunes, and a renewal late on a loaded machine must not empty a route
        });
        builder.AddServiceDefaults();
        builder.AddCfApp();
        var app = builder.Build();
        app.UseCfApp();
        await app.StartAsync();
        _instances.Add(app);

        using var status = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{StatusPort}") };
        for (var deadline = DateTime.UtcNow.AddSeconds(15); ; await Task.Delay(50))
        {
            var routes = await status.GetStringAsync(new Uri("/routes", UriKind.Relative));
            if (routes.Contains($":{port}", StringComparison.Ordinal))
            {
                return;
            }
            Assert.True(DateTime.UtcNow < deadline, $"{route} was not routed to 127.0.0.1:{port} within 15 s: {routes}");
        }
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var instance in _instances)
        {
            await instance.StopAsync();
            await instance.DisposeAsync();
        }
        await _router.StopAsync();
        await _router.DisposeAsync();
    }
}
