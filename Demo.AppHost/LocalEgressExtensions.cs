using Demo.DevCertificates;

namespace Aspire.Hosting;

/// <summary>
/// The local-only half of the app model: CF mocks and the local egress gateway exist only in run mode.
/// In a cluster the CF apps are external and Istio's egress gateway applies deploy/istio.
/// </summary>
internal static class LocalEgressExtensions
{
    private static string RepositoryRoot(IDistributedApplicationBuilder builder) =>
        Path.GetFullPath(Path.Combine(builder.AppHostDirectory, ".."));

    /// <summary>The Istio configuration the local gateway applies: <c>IstioConfigDirectory</c>, by default deploy/istio.</summary>
    private static string IstioConfigDirectory(IDistributedApplicationBuilder builder) =>
        builder.Configuration["IstioConfigDirectory"] is { Length: > 0 } directory
            ? Path.GetFullPath(directory, RepositoryRoot(builder))
            : Path.Combine(RepositoryRoot(builder), "deploy", "istio");

    public static IResourceBuilder<ProjectResource>? AddLocalEgressGateway(this IDistributedApplicationBuilder builder, string name)
    {
        if (!builder.ExecutionContext.IsRunMode)
        {
            return null;
        }

        using var ca = LocalCertificateAuthority.LoadOrCreate(Path.Combine(RepositoryRoot(builder), ".devcerts"));
        return builder.AddProject<Projects.Demo_EgressGateway>(name, o => o.ExcludeLaunchProfile = true)
            .WithHttpEndpoint(name: "http", env: "EgressGateway__MeshPort")
            .WithHttpEndpoint(name: "admin", env: "EgressGateway__AdminPort")
            .WithEnvironment("EgressGateway__ConfigDirectory", IstioConfigDirectory(builder))
            .WithEnvironment("EgressGateway__Scenario", builder.Configuration["Scenario"] ?? "")
            .WithEnvironment("EgressGateway__TrustedCaPath", ca.CaCertificatePath)
            .WithEnvironment("OTEL_SERVICE_NAME", name)
            .WithHttpHealthCheck("/health", endpointName: "admin");
    }

    /// <summary>A mock CF app: HTTPS with a certificate for its route from the local CA; health on plain HTTP.</summary>
    public static IResourceBuilder<ProjectResource>? AddCfApp(this IDistributedApplicationBuilder builder,
        string name, string version, string route, IResourceBuilder<ProjectResource>? egress)
    {
        if (egress is null)
        {
            return null;
        }

        using var ca = LocalCertificateAuthority.LoadOrCreate(Path.Combine(RepositoryRoot(builder), ".devcerts"));
        var certificate = ca.EnsureServerCertificate(route);
        var app = builder.AddProject<Projects.Demo_CfApps>(name, o => o.ExcludeLaunchProfile = true)
            // Not behind DCP's proxy: a stopped CF app must refuse connections, as a dead host does (Envoy: 503 UF),
            // instead of a proxy that accepts them and never answers.
            .WithHttpsEndpoint(name: "https", env: "CfApp__HttpsPort", isProxied: false)
            .WithHttpEndpoint(name: "management", env: "CfApp__ManagementPort")
            .WithEnvironment("CfApp__Version", version)
            .WithEnvironment("CfApp__Routes__0", route)
            .WithEnvironment("CfApp__CertificatePath", certificate.CertificatePath)
            .WithEnvironment("CfApp__CertificateKeyPath", certificate.KeyPath)
            .WithHttpHealthCheck("/health", endpointName: "management");

        egress.WithEnvironment($"EgressGateway__Upstreams__{route}", app.GetEndpoint("https"))
            .WaitFor(app);
        return app;
    }

    /// <summary>
    /// Locally the proxy's HTTP client uses the egress gateway as its HTTP proxy, which is what sidecar
    /// interception does in a cluster: the request still says <c>Host: hello.external</c>.
    /// </summary>
    public static IResourceBuilder<ProjectResource> ViaLocalEgressGateway(this IResourceBuilder<ProjectResource> proxy,
        IResourceBuilder<ProjectResource>? egress)
    {
        if (egress is null)
        {
            return proxy;
        }
        return proxy.WithEnvironment("Upstream__HttpProxy", egress.GetEndpoint("http")).WaitFor(egress);
    }
}
