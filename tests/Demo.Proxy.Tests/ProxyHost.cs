using System.Collections.Concurrent;
using System.Net;
using Microsoft.AspNetCore.Http.Features;

namespace Demo.Proxy.Tests;

/// <summary>Demo.Proxy in-process on 127.0.0.1, composed exactly as its Program.cs composes it.</summary>
public sealed class ProxyHost : IAsyncDisposable
{
    private readonly WebApplication _app;

    private ProxyHost(WebApplication app)
    {
        _app = app;
        Url = new Uri(app.Urls.First());
    }

    public Uri Url { get; }
    public int Port => Url.Port;

    public static async Task<ProxyHost> StartAsync(IDictionary<string, string?> settings, ILoggerProvider? logs = null)
    {
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions { EnvironmentName = "Test" });
        builder.Logging.ClearProviders();
        if (logs is not null)
        {
            builder.Logging.AddProvider(logs);
        }
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Configuration.AddInMemoryCollection(settings);

        builder.AddServiceDefaults();
        builder.AddUpstreamClient();
        var app = builder.Build();
        app.MapDefaultEndpoints();
        app.MapProxyApi();

        await app.StartAsync();
        return new ProxyHost(app);
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}

/// <summary>A plain-HTTP listener on 127.0.0.1 that records every request it gets and answers like a CF app.</summary>
public sealed class RecordingUpstream : IAsyncDisposable
{
    public const string Body = "Hello K8s, from CF v1 service!";
    private readonly WebApplication _app;

    private RecordingUpstream(WebApplication app) => _app = app;

    public sealed record Recorded(string Method, string RawTarget, string Host, string Path, string Query, IReadOnlyList<string> HeaderNames);

    public ConcurrentQueue<Recorded> Requests { get; } = new();
    public int Port { get; private set; }

    public static async Task<RecordingUpstream> StartAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, 0));
        var app = builder.Build();
        var upstream = new RecordingUpstream(app);
        app.Run(context =>
        {
            var request = context.Request;
            upstream.Requests.Enqueue(new Recorded(request.Method, context.Features.Get<IHttpRequestFeature>()!.RawTarget,
                request.Host.Value ?? "", request.Path.Value ?? "", request.QueryString.Value ?? "", [.. request.Headers.Keys]));
            context.Response.ContentType = "text/plain; charset=utf-8";
            return context.Response.WriteAsync(Body);
        });
        await app.StartAsync();
        upstream.Port = new Uri(app.Urls.First()).Port;
        return upstream;
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
