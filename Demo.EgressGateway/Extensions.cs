using Demo.EgressGateway.Mesh;
using Microsoft.Extensions.Options;
using OpenTelemetry.Metrics;

namespace Demo.EgressGateway;

public static class Extensions
{
    public static void AddEgressGateway(this IHostApplicationBuilder builder)
    {
        builder.Services.AddOptions<EgressGatewayOptions>()
            .BindConfiguration(EgressGatewayOptions.SectionName)
            .ValidateDataAnnotations()
            .Validate(o => Directory.Exists(o.ConfigDirectory),
                "EgressGateway:ConfigDirectory must name an existing folder of Istio YAML (deploy/istio).")
            .Validate(o => string.IsNullOrEmpty(o.TrustedCaPath) || File.Exists(o.TrustedCaPath),
                "EgressGateway:TrustedCaPath must name an existing PEM file.")
            .Validate(o => Istio.IstioVersion.TryParse(o.IstioVersion, out _),
                $"EgressGateway:IstioVersion must be an Istio version from {Istio.IstioVersion.Oldest} to {Istio.IstioVersion.Newest}, such as 1.30.")
            .Validate(o => o.Upstreams.Values.All(IsEndpoint),
                "EgressGateway:Upstreams values must be endpoints such as https://localhost:7443 or 127.0.0.1:7443.")
            // A Secret's ca.crl makes Envoy check the server against that CRL; the local gateway checks no CRL, so it
            // refuses such a Secret rather than accept a revoked certificate Istio would refuse.
            .Validate(o => o.Credentials.Values.All(path => !File.Exists(Path.Combine(path, "ca.crl"))),
                "EgressGateway:Credentials: a Secret folder holds ca.crl, a certificate revocation list, which the local egress gateway does not check; remove it (or the entry)")
            .ValidateOnStart();

        builder.Services.AddSingleton(TimeProvider.System);
        builder.Services.AddSingleton<ClusterManager>();
        builder.Services.AddSingleton<MeshSnapshotProvider>();
        // First of the hosted services: the configuration is loaded before any listener binds.
        builder.Services.AddHostedService(services => services.GetRequiredService<MeshSnapshotProvider>());
        builder.Services.AddSingleton<UpstreamClientFactory>();
        builder.Services.AddSingleton<ClusterStats>();
        builder.Services.AddSingleton<GatewayTelemetry>();
        builder.Services.AddSingleton<MeshRequestHandler>();
        builder.Services.AddSingleton<MeshCertificateAuthority>();
        builder.Services.AddSingleton<GatewayConnectionHandler>();
        builder.Services.AddSingleton<GatewayListenerManager>();
        builder.Services.AddSingleton<ProxyListeners>();
        builder.Services.AddSingleton<TcpProxyFilter>();
        builder.Services.AddSingleton<DownstreamTlsCredentials>();
        builder.Services.AddSingleton<SidecarTunnel>();
        builder.Services.AddHostedService(services => services.GetRequiredService<GatewayListenerManager>());
        builder.Services.AddHttpForwarder();

        // Istio's metrics are recorded once, on the gateway's meter; the admin port's /stats/prometheus reads them from
        // the same MeterProvider that exports to OTLP when the dashboard is there. No scrape cache: a scrape shows
        // every request answered before it; no OpenTelemetry scope label or target_info: Istio's label set only.
        builder.Services.AddOpenTelemetry()
            .WithMetrics(m => m.AddMeter(GatewayTelemetry.MeterName).AddPrometheusExporter(prometheus =>
            {
                prometheus.ScrapeResponseCacheDurationMilliseconds = 0;
                prometheus.ScopeInfoEnabled = false;
                prometheus.TargetInfoEnabled = false;
            }));
        if (builder.IsTelemetryExported())
        {
            builder.Services.AddOpenTelemetry()
                .WithTracing(t => t.AddSource(GatewayTelemetry.ActivitySource.Name));
            // Admin requests (the dashboard polls /status, health checks, /clusters) are not traffic: no spans for
            // them, as for the health endpoints.
            builder.Services.AddOptions<OpenTelemetry.Instrumentation.AspNetCore.AspNetCoreTraceInstrumentationOptions>()
                .Configure<IOptions<EgressGatewayOptions>, GatewayListenerManager>((aspNetCore, gateway, gatewayListeners) =>
                {
                    // Nor is the request the sidecar sends to the gateway's listener a span of its own: the gateway's
                    // stage span is the sidecar span's child, as in Istio's traces.
                    var previous = aspNetCore.Filter;
                    aspNetCore.Filter = context => (previous?.Invoke(context) ?? true)
                        && !(gateway.Value.AdminPort is { } admin && context.Connection.LocalPort == admin)
                        && gatewayListeners.ServicePortOf(context.Connection.LocalPort) is null;
                });
            // The upstream call's span says http (TLS is added below HttpClient, in the connect step); show what
            // goes on the wire when this gateway originates TLS.
            builder.Services.AddOptions<OpenTelemetry.Instrumentation.Http.HttpClientTraceInstrumentationOptions>()
                .Configure<IServiceProvider>((http, services) =>
                {
                    var previous = http.FilterHttpRequestMessage;
                    var gatewayService = services.GetRequiredService<GatewayListenerManager>().ServiceHost;
                    http.FilterHttpRequestMessage = request => (previous?.Invoke(request) ?? true)
                        && !string.Equals(request.RequestUri?.Host, gatewayService, StringComparison.OrdinalIgnoreCase);
                    http.EnrichWithHttpRequestMessage = (activity, request) =>
                    {
                        if (request.RequestUri is { } uri && TlsOriginated(services.GetRequiredService<MeshSnapshotProvider>().Current, uri))
                        {
                            activity.SetTag("url.scheme", "https");
                            activity.SetTag("url.full", new UriBuilder(uri) { Scheme = Uri.UriSchemeHttps }.Uri.ToString());
                        }
                    };
                });
        }

        builder.Services.AddOptions<Microsoft.AspNetCore.Server.Kestrel.Core.KestrelServerOptions>()
            .Configure<IOptions<EgressGatewayOptions>>((kestrel, gateway) =>
            {
                // The sidecar's port takes the app's CONNECT as the intercepted connection it stands for (SidecarTunnel);
                // the admin port and the egress gateway's listeners are left alone.
                kestrel.ConfigureEndpointDefaults(listen => listen.Use(next => connection =>
                {
                    var services = listen.ApplicationServices;
                    var localPort = (connection.LocalEndPoint as System.Net.IPEndPoint)?.Port;
                    return localPort is { } port && port != gateway.Value.AdminPort
                        && services.GetRequiredService<GatewayListenerManager>().ServicePortOf(port) is null
                        ? services.GetRequiredService<SidecarTunnel>().OnConnectionAsync(connection, next)
                        : next(connection);
                }));
                if (gateway.Value.MeshPort is { } mesh)
                {
                    kestrel.ListenLocalhost(mesh);
                }
                if (gateway.Value.AdminPort is { } admin)
                {
                    kestrel.ListenLocalhost(admin);
                }
            });
    }

    /// <summary>
    /// Requests on the mesh port go through the mesh; the admin port (if any) keeps the ordinary pipeline
    /// (health endpoints). It loads deploy/istio here, before the host starts, so bad YAML stops the start with
    /// the loader's message alone.
    /// </summary>
    /// <exception cref="IstioConfigException">The configuration folder has errors.</exception>
    public static void UseMeshListener(this WebApplication app)
    {
        var options = app.Services.GetRequiredService<IOptions<EgressGatewayOptions>>().Value;
        app.Services.GetRequiredService<MeshSnapshotProvider>().Load();
        var handler = app.Services.GetRequiredService<MeshRequestHandler>();
        var adminPort = options.AdminPort;
        app.Use((context, next) => IsAdminRequest(context, adminPort) ? next(context) : handler.HandleAsync(context));
    }

    private static bool IsAdminRequest(HttpContext context, int? adminPort) => adminPort is { } port
        ? context.Connection.LocalPort == port
        : Microsoft.Extensions.Hosting.Extensions.IsHealthProbe(context.Request.Path);

    private static readonly System.Runtime.CompilerServices.ConditionalWeakTable<MeshSnapshot, HashSet<string>> TlsUpstreams = new();

    private static bool TlsOriginated(MeshSnapshot config, Uri uri) => TlsUpstreams.GetValue(config, static c =>
            new HashSet<string>(ClusterStats.ClustersOf(c).SelectMany(x => x.Hosts).Select(h => h.Transport).OfType<UpstreamTransport>()
                .Where(t => t.Tls).Select(t => $"{t.Host}:{t.Port}"), StringComparer.OrdinalIgnoreCase))
        .Contains($"{uri.Host}:{uri.Port}");

    private static bool IsEndpoint(string value)
    {
        try
        {
            UpstreamClientFactory.ParseEndpoint(value);
            return true;
        }
        catch (FormatException)
        {
            return false;
        }
    }
}
