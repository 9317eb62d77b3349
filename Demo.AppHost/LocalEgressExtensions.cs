using Demo.DevCertificates;

namespace Aspire.Hosting;

/// <summary>
/// The local-only half of the app model: the Cloud Foundry stand-in (router and app instances) and the local egress
/// gateway exist only in run mode. In a cluster the CF apps are external and Istio's egress gateway applies deploy/istio.
/// </summary>
internal static class LocalEgressExtensions
{
    /// <summary>Instances per CF app (<c>--CfInstances 2</c>, like <c>cf scale -i 2</c>); 1 by default.</summary>
    public const string CfInstancesSetting = "CfInstances";

    /// <summary><c>--StartOrder parallel</c>: the hops start side by side (see <see cref="WaitForLocalPath"/>); by default they wait for each other along the path.</summary>
    public const string StartOrderSetting = "StartOrder";

    private static string RepositoryRoot(IDistributedApplicationBuilder builder) =>
        Path.GetFullPath(Path.Combine(builder.AppHostDirectory, ".."));

    private static string DevCertificatesDirectory(IDistributedApplicationBuilder builder) =>
        Path.Combine(RepositoryRoot(builder), ".devcerts");

    public static IResourceBuilder<ProjectResource>? AddLocalEgressGateway(this IDistributedApplicationBuilder builder, string name)
    {
        if (!builder.ExecutionContext.IsRunMode)
        {
            return null;
        }

        string caPath;
        string? credential = null;
        var pattern = EgressPattern.Selected(builder);
        using (var ca = LocalCertificateAuthority.LoadOrCreate(DevCertificatesDirectory(builder)))
        {
            caPath = ca.CaCertificatePath;
            if (pattern.ClientCredential is { } secret)
            {
                credential = ca.EnsureClientCredential(secret, "istio-egressgateway.istio-system.svc.cluster.local");
            }
        }
        var gateway = builder.AddProject<Projects.Demo_EgressGateway>(name, o => o.ExcludeLaunchProfile = true)
            // Not behind DCP's proxy: a stopped gateway must refuse connections, so the app's proxy fails at once, as
            // Istio's sidecar does with no gateway endpoint (503 UH) — DCP's proxy accepts a connection and may hold it.
            .WithHttpEndpoint(name: "http", env: "EgressGateway__MeshPort", isProxied: false)
            .WithHttpEndpoint(name: "admin", env: "EgressGateway__AdminPort")
            .WithEnvironment("EgressGateway__ConfigDirectory", EgressPattern.ConfigDirectory(builder))
            .WithEnvironment("EgressGateway__Scenario", builder.Configuration["Scenario"] ?? "")
            .WithEnvironment("EgressGateway__TrustedCaPath", caPath)
            .WithEnvironment("OTEL_SERVICE_NAME", name)
            .WithHttpHealthCheck("/health", endpointName: "admin");
        // The Secret a MUTUAL DestinationRule's credentialName names, as a folder of its keys (EgressGateway:Credentials).
        return credential is null ? gateway : gateway.WithEnvironment($"EgressGateway__Credentials__{pattern.ClientCredential}", credential);
    }

    /// <summary>
    /// The platform's router (gorouter's stand-in, Demo.CfRouter): HTTPS for the whole apps domain with one wildcard
    /// certificate from the local CA, routing by Host to the instances that registered. Not behind DCP's proxy: a
    /// stopped router must refuse connections, as a platform that is down does (Envoy: 503 UF), rather than a proxy
    /// that accepts them and never answers. Client certificates: as gorouter's <c>client_cert_validation</c> of the
    /// selected <see cref="EgressPattern"/> (require for mutual-tls-origination), verified against the dev CA.
    /// </summary>
    /// <param name="appsDomain">The platform's apps domain, e.g. <c>apps.example.com</c>: the certificate is <c>*.&lt;domain&gt;</c>.</param>
    public static IResourceBuilder<ProjectResource>? AddCfRouter(this IDistributedApplicationBuilder builder, string name,
        string appsDomain, IResourceBuilder<ProjectResource>? egress)
    {
        if (egress is null)
        {
            return null;
        }

        ServerCertificateFiles certificate;
        string caPath;
        using (var ca = LocalCertificateAuthority.LoadOrCreate(DevCertificatesDirectory(builder)))
        {
            certificate = ca.EnsureServerCertificate("*." + appsDomain);
            caPath = ca.CaCertificatePath;
        }
        var router = builder.AddProject<Projects.Demo_CfRouter>(name, o => o.ExcludeLaunchProfile = true)
            .WithHttpsEndpoint(name: "https", env: "CfRouter__HttpsPort", isProxied: false)
            .WithHttpEndpoint(name: "status", env: "CfRouter__StatusPort", isProxied: false)
            .WithEnvironment("CfRouter__CertificatePath", certificate.CertificatePath)
            .WithEnvironment("CfRouter__CertificateKeyPath", certificate.KeyPath)
            .WithEnvironment("CfRouter__ClientCertValidation", EgressPattern.Selected(builder).RouterClientCertValidation)
            .WithEnvironment("CfRouter__ClientCaCertsPath", caPath)
            // Local timings: instances renew every second, so a restarted router knows every route within 2 s, and an
            // instance that vanished without unregistering (killed) is pruned within 3-4 s.
            .WithEnvironment("CfRouter__StartResponseDelayInterval", "00:00:02")
            .WithEnvironment("CfRouter__DropletStaleThreshold", "00:00:03")
            .WithEnvironment("CfRouter__PruneStaleDropletsInterval", "00:00:01")
            .WithEnvironment("OTEL_SERVICE_NAME", name)
            .WithHttpHealthCheck("/health", endpointName: "status");
        return router;
    }

    /// <summary>
    /// A CF app as <c>cf push</c> runs it: plain HTTP on <c>$PORT</c>, <c>--CfInstances</c> instances (replicas), each
    /// registering its route with the router while it runs. The egress gateway maps the route's host name to the
    /// router, as the platform's DNS does.
    /// </summary>
    public static IResourceBuilder<ProjectResource>? AddCfApp(this IDistributedApplicationBuilder builder,
        string name, string appName, string version, string route, IResourceBuilder<ProjectResource>? router,
        IResourceBuilder<ProjectResource>? egress)
    {
        if (router is null || egress is null)
        {
            return null;
        }

        var setting = builder.Configuration[CfInstancesSetting];
        var instances = 1;
        if (!string.IsNullOrEmpty(setting)
            && (!int.TryParse(setting, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out instances)
                || instances is < 1 or > 20))
        {
            throw new InvalidOperationException($"--{CfInstancesSetting} '{setting}' is not a number of instances from 1 to 20 (like cf scale -i).");
        }
        var app = builder.AddProject<Projects.Demo_CfApps>(name, o => o.ExcludeLaunchProfile = true)
            .WithHttpEndpoint(name: "http", env: "PORT")
            .WithReplicas(instances)
            .WithEnvironment("CfApp__Version", version)
            .WithEnvironment("CfApp__Routes__0", route)
            .WithEnvironment("CfApp__RouteRegistrar__RouterUrl", router.GetEndpoint("status"))
            .WithEnvironment("CfApp__RouteRegistrar__App", appName)
            .WithEnvironment("CfApp__RouteRegistrar__RegisterInterval", "00:00:01")
            .WithEnvironment("CfApp__RouteRegistrar__StaleThresholdInSeconds", "3")
            // CF_INSTANCE_INDEX as Diego gives it (0 … n−1, a restarted instance takes the freed one): replicas share
            // one environment, so each instance claims its index in this AppHost's folder for the app.
            .WithEnvironment("CfApp__InstanceIndexLeases",
                Path.Combine(Path.GetTempPath(), "demo-cf-instance-index", Environment.ProcessId.ToString(System.Globalization.CultureInfo.InvariantCulture), name))
            .WithHttpHealthCheck("/health");

        egress.WithEnvironment($"EgressGateway__Upstreams__{route}", router.GetEndpoint("https"));
        return app;
    }

    /// <summary>
    /// Locally the proxy's HTTP client uses the egress gateway as its HTTP proxy, which is what sidecar
    /// interception does in a cluster: the request still says <c>Host: hello.external</c>. The proxy does not wait for
    /// the gateway itself; <see cref="WaitForLocalPath"/> orders the start. An <c>https://</c> call (the passthrough
    /// pattern) arrives as <c>CONNECT</c>, the local stand-in for intercepted TLS, and the proxy trusts the dev CA that
    /// issued the CF router's certificate.
    /// </summary>
    public static IResourceBuilder<ProjectResource> ViaLocalEgressGateway(this IResourceBuilder<ProjectResource> proxy,
        IResourceBuilder<ProjectResource>? egress)
    {
        if (egress is null)
        {
            return proxy;
        }
        proxy.WithEnvironment("Upstream__HttpProxy", egress.GetEndpoint("http"));
        if (EgressPattern.Selected(proxy.ApplicationBuilder).ProxyOriginatesTls)
        {
            using var ca = LocalCertificateAuthority.LoadOrCreate(DevCertificatesDirectory(proxy.ApplicationBuilder));
            proxy.WithEnvironment("Upstream__TrustedCaPath", ca.CaCertificatePath);
        }
        return proxy;
    }

    /// <summary>
    /// Starts <paramref name="client"/> once every hop of its local path is healthy, so that its first request gets a
    /// Cloud Foundry app's answer rather than an error. By default the hops wait for what they forward to, and no more:
    /// the router and the CF apps start together (an app retries its route registration until the router listens, as
    /// on a platform), the egress gateway waits for the router (its upstream; it does not need the apps behind it), the
    /// proxy for the egress gateway, and the client for the proxy and the apps. <c>--StartOrder parallel</c> starts
    /// every hop side by side and makes only the client wait for all of them: none of them needs the next one to start
    /// (each resolves its upstream per request, as in a cluster), but on this 2-core machine it measured slower
    /// (bench/RESULTS.md §0a and §−2: the starts are CPU-bound) and the dashboard's trace view misbehaved in
    /// DashboardBrowserTests, so it is opt-in.
    /// </summary>
    /// <param name="proxy">The client's first hop.</param>
    /// <param name="egress">The egress gateway; null in publish mode.</param>
    /// <param name="router">The CF router, the egress gateway's upstream; null in publish mode.</param>
    /// <param name="apps">The CF apps behind the router; null entries (publish mode) are skipped.</param>
    /// <exception cref="InvalidOperationException"><c>--StartOrder</c> is neither <c>chain</c> nor <c>parallel</c>.</exception>
    public static IResourceBuilder<ProjectResource> WaitForLocalPath(this IResourceBuilder<ProjectResource> client,
        IResourceBuilder<ProjectResource> proxy, IResourceBuilder<ProjectResource>? egress,
        IResourceBuilder<ProjectResource>? router, params IResourceBuilder<ProjectResource>?[] apps)
    {
        client.WaitFor(proxy);
        if (egress is null)
        {
            return client;
        }
        var order = client.ApplicationBuilder.Configuration[StartOrderSetting];
        if (!string.IsNullOrEmpty(order) && order is not ("chain" or "parallel"))
        {
            throw new InvalidOperationException($"--{StartOrderSetting} '{order}' is neither chain (the default) nor parallel.");
        }
        var chain = order != "parallel";
        (chain ? proxy : client).WaitFor(egress);
        if (router is not null)
        {
            (chain ? egress : client).WaitFor(router);
        }
        foreach (var app in apps)
        {
            if (app is not null)
            {
                client.WaitFor(app);
            }
        }
        return client;
    }
}
