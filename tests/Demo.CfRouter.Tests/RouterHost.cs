using System.Net;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using Demo.CfRouter;
using Demo.DevCertificates;
using Microsoft.Extensions.Logging.Testing;

namespace Demo.CfRouter.Tests;

/// <summary>
/// The router in-process on 127.0.0.1 with a wildcard certificate for <c>*.apps.example.com</c> from a throw-away CA,
/// and a client that trusts that CA and dials the router whatever the host name.
/// </summary>
public sealed class RouterHost : IAsyncDisposable
{
    public const string AppsDomainWildcard = "*.apps.example.com";
    private static readonly Lazy<LocalCertificateAuthority> Ca = new(() =>
        LocalCertificateAuthority.LoadOrCreate(Path.Combine(Path.GetTempPath(), "demo-cfrouter-tests-ca")));

    private readonly WebApplication _app;
    private int _connections;

    private RouterHost(WebApplication app, int httpsPort, int statusPort)
    {
        _app = app;
        HttpsPort = httpsPort;
        StatusPort = statusPort;
        Status = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{statusPort}") };
        var ca = X509CertificateLoader.LoadCertificate(Ca.Value.Certificate.RawData);
        Client = new HttpClient(new SocketsHttpHandler
        {
            UseProxy = false,
            ConnectCallback = async (_, token) =>
            {
                Interlocked.Increment(ref _connections);
                var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
                await socket.ConnectAsync(new IPEndPoint(IPAddress.Loopback, httpsPort), token);
                return new NetworkStream(socket, ownsSocket: true);
            },
            SslOptions =
            {
                CertificateChainPolicy = new X509ChainPolicy
                {
                    TrustMode = X509ChainTrustMode.CustomRootTrust,
                    CustomTrustStore = { ca },
                    RevocationMode = X509RevocationMode.NoCheck,
                },
            },
        });
    }

    public int HttpsPort { get; }

    /// <summary>How many TCP connections <see cref="Client"/> has opened to the router.</summary>
    public int Connections => Volatile.Read(ref _connections);
    public int StatusPort { get; }

    /// <summary>Verifies the router's certificate against the test CA and the request's host name.</summary>
    public HttpClient Client { get; }

    /// <summary>The status port: route registration and the route table.</summary>
    public HttpClient Status { get; }

    public IServiceProvider Services => _app.Services;

    /// <summary>Everything the router logged (access log, <c>backend-endpoint-failed</c>, registrations).</summary>
    public FakeLogCollector Logs => _app.Services.GetFakeLogCollector();

    /// <summary>The router's access-log lines so far (gorouter's access log record, one per request).</summary>
    public IReadOnlyList<string> AccessLog => [.. Logs.GetSnapshot().Where(r => r.Id.Id == 1 && r.Category == typeof(GorouterHandler).FullName).Select(r => r.Message)];

    /// <summary>Waits until the router has logged <paramref name="count"/> access-log lines (a line follows the response by a moment) and returns them.</summary>
    public async Task<IReadOnlyList<string>> WaitForAccessLogAsync(int count)
    {
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (AccessLog.Count < count && DateTime.UtcNow < deadline)
        {
            await Task.Delay(10);
        }
        return AccessLog;
    }

    public static async Task<RouterHost> StartAsync(Dictionary<string, string?>? settings = null)
    {
        var certificate = Ca.Value.EnsureServerCertificate(AppsDomainWildcard);
        var ports = Demo.Tests.LoopbackPorts.Free(2);
        var (httpsPort, statusPort) = (ports[0], ports[1]);
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions { EnvironmentName = "Test" });
        builder.Logging.ClearProviders();
        builder.Logging.AddFakeLogging();
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["CfRouter:HttpsPort"] = httpsPort.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["CfRouter:StatusPort"] = statusPort.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["CfRouter:CertificatePath"] = certificate.CertificatePath,
            ["CfRouter:CertificateKeyPath"] = certificate.KeyPath,
            ["CfRouter:StartResponseDelayInterval"] = "00:00:00",
        });
        if (settings is not null)
        {
            builder.Configuration.AddInMemoryCollection(settings);
        }
        builder.AddServiceDefaults();
        builder.AddCfRouter();
        var app = builder.Build();
        app.UseCfRouter();
        await app.StartAsync();
        return new RouterHost(app, httpsPort, statusPort);
    }

    /// <summary>
    /// Registers (or unregisters) the instance on 127.0.0.1:<paramref name="port"/> for <paramref name="route"/>;
    /// <paramref name="instanceId"/> null is a fresh GUID, as Diego gives every instance.
    /// </summary>
    public async Task RegisterAsync(string route, int port, string app = "hello", string action = "register", int staleSeconds = 0,
        string index = "0", string? instanceId = null)
    {
        using var response = await Status.PostAsJsonAsync($"/routes/{action}", new Dictionary<string, object>
        {
            ["host"] = "127.0.0.1",
            ["port"] = port,
            ["uris"] = new[] { route },
            ["app"] = app,
            ["private_instance_id"] = instanceId ?? Guid.NewGuid().ToString(),
            ["private_instance_index"] = index,
            ["stale_threshold_in_seconds"] = staleSeconds,
        });
        response.EnsureSuccessStatusCode();
    }

    public async Task<(int Status, string Body, HttpResponseMessage Response)> GetAsync(string host, string path = "/")
    {
        var response = await Client.GetAsync($"https://{host}{path}");
        return ((int)response.StatusCode, await response.Content.ReadAsStringAsync(), response);
    }

    /// <summary>A port nothing listens on (taken and released), so a connection to it is refused.</summary>
    public static int FreePort() => Demo.Tests.LoopbackPorts.Free(1)[0];

    public async ValueTask DisposeAsync()
    {
        Client.Dispose();
        Status.Dispose();
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}

/// <summary>A plain-HTTP app instance on 127.0.0.1 that answers with its name and records the request headers and body it got.</summary>
public sealed class AppInstance : IAsyncDisposable
{
    private readonly WebApplication _app;

    private AppInstance(WebApplication app, string name)
    {
        _app = app;
        Name = name;
    }

    public string Name { get; }
    public int Port { get; private set; }
    public System.Collections.Concurrent.ConcurrentQueue<Dictionary<string, string>> Requests { get; } = new();
    public System.Collections.Concurrent.ConcurrentQueue<string> Bodies { get; } = new();

    public static async Task<AppInstance> StartAsync(string name)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        var app = builder.Build();
        var instance = new AppInstance(app, name);
        app.Run(async context =>
        {
            instance.Requests.Enqueue(context.Request.Headers.ToDictionary(h => h.Key, h => h.Value.ToString(), StringComparer.OrdinalIgnoreCase));
            using var reader = new StreamReader(context.Request.Body);
            instance.Bodies.Enqueue(await reader.ReadToEndAsync());
            await context.Response.WriteAsync(name);
        });
        await app.StartAsync();
        instance.Port = new Uri(app.Urls.First()).Port;
        return instance;
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
