using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using System.Net;
using System.Security.Cryptography.X509Certificates;
using Demo.DevCertificates;
using Microsoft.AspNetCore.Server.Kestrel.Core;

namespace Demo.EgressGateway.Tests;

/// <summary>
/// An HTTPS upstream on 127.0.0.1 that stands in for the CF router in front of the apps: by default the platform's
/// certificate layout — one wildcard SAN for the apps domain (<c>*.apps.example.com</c>), as gorouter and the local
/// Demo.CfRouter serve it, so every TLS-origination test verifies the DestinationRules' exact <c>subjectAltNames</c>
/// against a wildcard — and, like gorouter, 404 unknown_route for a Host that is not a route. Behaviour per request
/// is scriptable.
/// </summary>
public sealed class TestUpstream : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly Dictionary<string, X509Certificate2> _certificates;
    private readonly ConcurrentDictionary<string, int> _hits = new(StringComparer.OrdinalIgnoreCase);

    private readonly StrongBox<TimeSpan> _handshakeDelay;

    private TestUpstream(WebApplication app, Dictionary<string, X509Certificate2> certificates, StrongBox<TimeSpan> handshakeDelay)
    {
        _handshakeDelay = handshakeDelay;
        _app = app;
        _certificates = certificates;
    }

    /// <summary>Route → version; answers "Hello K8s, from CF {version} service!".</summary>
    public IReadOnlyDictionary<string, string> Routes { get; private init; } = new Dictionary<string, string>();

    /// <summary>Replaces the default answer; return null to fall through to it.</summary>
    public Func<HttpContext, Task<bool>>? Behaviour { get; set; }

    /// <summary>
    /// Answers the first request with 503 <c>once</c> and every later one as usual; <paramref name="seen"/>, if given,
    /// runs for every request first.
    /// </summary>
    public void FailFirstRequestWith503(Action<HttpContext>? seen = null)
    {
        var calls = 0;
        Behaviour = async context =>
        {
            seen?.Invoke(context);
            if (Interlocked.Increment(ref calls) > 1)
            {
                return false;
            }
            context.Response.StatusCode = 503;
            await context.Response.WriteAsync("once");
            return true;
        };
    }

    /// <summary>How long each new connection waits before its TLS handshake starts (a slow or distant server).</summary>
    public TimeSpan HandshakeDelay
    {
        get => _handshakeDelay.Value;
        set => _handshakeDelay.Value = value;
    }

    public int Port { get; private set; }
    public string Endpoint => $"127.0.0.1:{Port}";

    public ConcurrentQueue<(string Host, string? TraceParent)> Requests { get; } = new();

    /// <summary>Each request's <c>x-forwarded-client-cert</c>, in arrival order (empty when it had none).</summary>
    public ConcurrentQueue<string> ForwardedClientCerts { get; } = new();

    public ConcurrentQueue<string> Paths { get; } = new();

    public int Hits(string host) => _hits.TryGetValue(host, out var n) ? n : 0;

    public int TotalHits => _hits.Values.Sum();

    public static async Task<TestUpstream> StartAsync(X509Certificate2 issuer, IReadOnlyDictionary<string, string> routes,
        Func<string, X509Certificate2>? certificateFor = null)
    {
        var certificates = routes.Keys.ToDictionary(
            host => host,
            host => certificateFor?.Invoke(host) ?? LocalCertificateAuthority.IssueServerCertificate(
                issuer, PlatformCertificateName(host), DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddDays(1)),
            StringComparer.OrdinalIgnoreCase);
        var handshakeDelay = new StrongBox<TimeSpan>();
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, 0, listen =>
        {
            listen.Protocols = HttpProtocols.Http1AndHttp2;
            listen.Use(next => async connection =>
            {
                if (handshakeDelay.Value > TimeSpan.Zero)
                {
                    await Task.Delay(handshakeDelay.Value, connection.ConnectionClosed);
                }
                await next(connection);
            });
            listen.UseHttps(https => https.ServerCertificateSelector = (_, name) =>
                name is not null && certificates.TryGetValue(name, out var c) ? c : certificates.Values.First());
        }));
        var app = builder.Build();
        var upstream = new TestUpstream(app, certificates, handshakeDelay) { Routes = routes };
        app.Run(upstream.HandleAsync);
        await app.StartAsync();
        upstream.Port = new Uri(app.Urls.First()).Port;
        return upstream;
    }

    private async Task HandleAsync(HttpContext context)
    {
        var host = context.Request.Host.Host;
        Requests.Enqueue((host, context.Request.Headers.TraceParent.ToString()));
        ForwardedClientCerts.Enqueue(context.Request.Headers["x-forwarded-client-cert"].ToString());
        Paths.Enqueue(context.Request.Path + context.Request.QueryString);
        _hits.AddOrUpdate(host, 1, (_, n) => n + 1);
        if (Behaviour is { } behaviour && await behaviour(context))
        {
            return;
        }
        if (!Routes.TryGetValue(host, out var version))
        {
            context.Response.StatusCode = 404;
            context.Response.Headers["X-Cf-RouterError"] = "unknown_route";
            await context.Response.WriteAsync($"404 Not Found: Requested route ('{host}') does not exist.\n");
            return;
        }
        context.Response.ContentType = "text/plain; charset=utf-8";
        await context.Response.WriteAsync($"Hello K8s, from CF {version} service!");
    }

    /// <summary><c>*.apps.example.com</c> for a host of that domain (the platform's shared-domain certificate), else the host.</summary>
    public static string PlatformCertificateName(string host)
    {
        const string AppsDomain = ".apps.example.com";
        return host.EndsWith(AppsDomain, StringComparison.OrdinalIgnoreCase) && host.IndexOf('.', StringComparison.Ordinal) == host.Length - AppsDomain.Length
            ? "*" + AppsDomain
            : host;
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
        foreach (var certificate in _certificates.Values)
        {
            certificate.Dispose();
        }
    }
}
