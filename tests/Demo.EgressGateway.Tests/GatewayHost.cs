using System.Net;
using Demo.DevCertificates;
using Demo.EgressGateway.Mesh;
using Microsoft.Extensions.Logging.Abstractions;

namespace Demo.EgressGateway.Tests;

/// <summary>
/// The local egress gateway in-process on 127.0.0.1, reading a private copy of deploy/istio that a test may edit,
/// with the v1/v2 hosts mapped to a <see cref="TestUpstream"/>. Requests go through it as through an HTTP proxy,
/// exactly as Demo.Proxy sends them.
/// </summary>
public sealed class GatewayHost : IAsyncDisposable
{
    public const string V1Host = "hello-istio-v1.apps.example.com";
    public const string V2Host = "hello-istio-v2.apps.example.com";
    public const string InMeshUrl = "http://hello.external/";

    private readonly WebApplication _app;

    private GatewayHost(WebApplication app, string configDirectory, TestUpstream upstream, CapturingLoggerProvider logs)
    {
        _app = app;
        ConfigDirectory = configDirectory;
        Upstream = upstream;
        Logs = logs;
        Url = new Uri(app.Urls.First());
        Client = CreateClient();
    }

    public string ConfigDirectory { get; }
    public TestUpstream Upstream { get; }
    public CapturingLoggerProvider Logs { get; }
    public Uri Url { get; }
    public HttpClient Client { get; }
    public MeshSnapshotProvider Config => _app.Services.GetRequiredService<MeshSnapshotProvider>();
    public IServiceProvider Services => _app.Services;

    public HttpClient CreateClient(TimeSpan? timeout = null) => new(new SocketsHttpHandler
    {
        Proxy = new WebProxy(Url),
        UseProxy = true,
        PooledConnectionLifetime = TimeSpan.FromMinutes(1),
    })
    { Timeout = timeout ?? TimeSpan.FromSeconds(30) };

    /// <summary>Starts the gateway on a copy of deploy/istio, after <paramref name="edit"/> has changed the copy.</summary>
    public static async Task<GatewayHost> StartAsync(
        Action<ConfigFolder>? edit = null,
        TestUpstream? upstream = null,
        string scenario = "",
        Dictionary<string, string?>? settings = null,
        Action<IServiceCollection>? services = null)
    {
        var folder = ConfigFolder.CopyOfDeployIstio();
        edit?.Invoke(folder);
        var ownUpstream = upstream is null;
        upstream ??= await TestUpstream.StartAsync(TestCa.Certificate,
            new Dictionary<string, string> { [V1Host] = "v1", [V2Host] = "v2" });

        var builder = WebApplication.CreateBuilder(new WebApplicationOptions { EnvironmentName = "Test" });
        // The gateway's own appsettings.json, whichever referenced web project's copy landed in this test's output
        // folder (the CF router and app projects are referenced too, for CfPlatform).
        builder.Configuration.AddJsonFile(System.IO.Path.Combine(ConfigFolder.RepositoryRoot, "Demo.EgressGateway", "appsettings.json"), optional: false);
        var logs = new CapturingLoggerProvider();
        builder.Logging.ClearProviders();
        builder.Logging.AddProvider(logs);
        builder.Logging.SetMinimumLevel(LogLevel.Information);
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["EgressGateway:ConfigDirectory"] = folder.Path,
            ["EgressGateway:Scenario"] = scenario,
            ["EgressGateway:TrustedCaPath"] = TestCa.Authority.CaCertificatePath,
            [$"EgressGateway:Upstreams:{V1Host}"] = upstream.Endpoint,
            [$"EgressGateway:Upstreams:{V2Host}"] = upstream.Endpoint,
        });
        if (settings is not null)
        {
            builder.Configuration.AddInMemoryCollection(settings);
        }
        builder.AddEgressGateway();
        services?.Invoke(builder.Services);
        var app = builder.Build();
        app.UseMeshListener();
        app.MapGet("/health", () => "Healthy");
        app.MapAdminApi();
        app.MapConfigDump();
        try
        {
            await app.StartAsync();
        }
        catch
        {
            await app.DisposeAsync();
            if (ownUpstream)
            {
                await upstream.DisposeAsync();
            }
            Directory.Delete(folder.Path, recursive: true);
            throw;
        }
        return new GatewayHost(app, folder.Path, upstream, logs);
    }

    /// <summary>
    /// Starts the gateway with its own mesh and admin ports (<c>EgressGateway:MeshPort</c>/<c>AdminPort</c>), as the
    /// AppHost runs it, on free loopback ports. A port another process takes between the pick and the bind (test
    /// assemblies run side by side) is picked again, up to five times.
    /// </summary>
    /// <returns>The gateway, its mesh port and its admin port.</returns>
    public static async Task<(GatewayHost Gateway, int MeshPort, int AdminPort)> StartOnOwnPortsAsync(Action<ConfigFolder>? edit = null)
    {
        for (var attempt = 1; ; attempt++)
        {
            var ports = Demo.Tests.LoopbackPorts.Free(2);
            var (mesh, admin) = (ports[0], ports[1]);
            try
            {
                var gateway = await StartAsync(edit, settings: new Dictionary<string, string?>
                {
                    ["EgressGateway:MeshPort"] = mesh.ToString(System.Globalization.CultureInfo.InvariantCulture),
                    ["EgressGateway:AdminPort"] = admin.ToString(System.Globalization.CultureInfo.InvariantCulture),
                });
                return (gateway, mesh, admin);
            }
            catch (IOException ex) when (attempt < 5 && ex.InnerException is Microsoft.AspNetCore.Connections.AddressInUseException)
            {
            }
        }
    }

    /// <summary>A loopback port nothing listens on now (taken and released).</summary>
    public static int FreePort() => Demo.Tests.LoopbackPorts.Free(1)[0];

    public async Task<(int Status, string Body)> GetAsync(string url = InMeshUrl, Action<HttpRequestMessage>? configure = null)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, url);
        configure?.Invoke(request);
        var logged = SidecarLines();
        var gatewayLogged = Logs.GatewayLines;
        try
        {
            using var response = await Client.SendAsync(request);
            return ((int)response.StatusCode, await response.Content.ReadAsStringAsync());
        }
        finally
        {
            // Each proxy writes its access-log line when its request ends, which can be just after its client has the
            // whole answer or has seen the connection close (as with Envoy): wait for the sidecar's line, then — when the
            // sidecar's tries reached the gateway — for one gateway line per try, so that tests can read the log right away.
            var deadline = DateTime.UtcNow.AddSeconds(5);
            while (SidecarLines() <= logged && DateTime.UtcNow < deadline)
            {
                await Task.Delay(5);
            }
            if (Demo.Tests.MeshAccessLog.TriesThatReachedTheGateway(Logs.LastSidecarLine) is var tries and > 0)
            {
                while (Logs.GatewayLines < gatewayLogged + tries && DateTime.UtcNow < deadline)
                {
                    await Task.Delay(5);
                }
            }
        }
    }

    private int SidecarLines() => Logs.SidecarAccessLines;

    public async ValueTask DisposeAsync()
    {
        Client.Dispose();
        await _app.StopAsync();
        await _app.DisposeAsync();
        await Upstream.DisposeAsync();
        try
        {
            Directory.Delete(ConfigDirectory, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}

/// <summary>One local CA for the whole test run, in a temp folder.</summary>
public static class TestCa
{
    private static readonly Lazy<LocalCertificateAuthority> Lazy = new(() =>
        LocalCertificateAuthority.LoadOrCreate(Path.Combine(Path.GetTempPath(), "demo-egress-tests-ca")));

    public static LocalCertificateAuthority Authority => Lazy.Value;
    public static System.Security.Cryptography.X509Certificates.X509Certificate2 Certificate => Authority.Certificate;
}
