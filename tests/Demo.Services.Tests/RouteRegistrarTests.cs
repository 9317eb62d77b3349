using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using Demo.CfApps;

namespace Demo.Services.Tests;

/// <summary>
/// A CF app instance as <c>cf push</c> runs it: plain HTTP on <c>$PORT</c>; locally it registers its route with the
/// router while it runs (gorouter's <c>router.register</c>) and unregisters before it stops serving (<c>cf stop</c>).
/// </summary>
public sealed class RouteRegistrarTests
{
    private const string Route = "hello-istio-v1.apps.example.com";

    [Fact]
    public async Task The_app_serves_PORT_registers_its_route_while_it_runs_and_unregisters_before_it_stops()
    {
        var messages = new ConcurrentQueue<(string Action, JsonElement Body, bool AppStillServing)>();
        var port = FreePort();
        await using var router = await StartFakeRouterAsync(messages, port);
        var app = StartApp(port, new Uri(router.Urls.First()));
        await app.StartAsync();

        using (var http = new HttpClient())
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, $"http://127.0.0.1:{port}/");
            request.Headers.Host = Route;
            using var response = await http.SendAsync(request);
            Assert.Equal("Hello K8s, from CF v1 service!", await response.Content.ReadAsStringAsync());
        }
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (messages.Count(m => m.Action == "register") < 2 && DateTime.UtcNow < deadline)
        {
            await Task.Delay(50);
        }

        await app.StopAsync();
        await app.DisposeAsync();

        var register = messages.First(m => m.Action == "register").Body;
        Assert.Equal("127.0.0.1", register.GetProperty("host").GetString());
        Assert.Equal(port, register.GetProperty("port").GetInt32());
        Assert.Equal([Route], register.GetProperty("uris").EnumerateArray().Select(u => u.GetString()));
        Assert.Equal("hello-istio-v1", register.GetProperty("app").GetString());
        Assert.Equal(3, register.GetProperty("stale_threshold_in_seconds").GetInt32());
        Assert.True(messages.Count(m => m.Action == "register") >= 2, "the registration is renewed every interval");
        var unregister = Assert.Single(messages, m => m.Action == "unregister");
        Assert.Equal("unregister", messages.Last().Action);
        Assert.Equal(port, unregister.Body.GetProperty("port").GetInt32());
        // Unregistered first, then the server stops: no request meets a closed port in between.
        Assert.True(unregister.AppStillServing, "the app had stopped serving before it unregistered");
    }

    [Fact]
    public async Task Without_a_router_url_nothing_is_registered_as_on_Cloud_Foundry()
    {
        var port = FreePort();
        var app = StartApp(port, routerUrl: null);
        await app.StartAsync();
        using (var http = new HttpClient())
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, $"http://127.0.0.1:{port}/health");
            using var response = await http.SendAsync(request);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }
        await app.StopAsync();
        await app.DisposeAsync();
    }

    [Fact]
    public async Task The_route_is_registered_only_once_the_start_up_health_check_answers_200_as_Diego_runs_it()
    {
        var messages = new ConcurrentQueue<(string Action, JsonElement Body, bool AppStillServing)>();
        var port = FreePort();
        await using var router = await StartFakeRouterAsync(messages, port);
        var ready = false;
        var checks = 0;
        var app = StartApp(port, new Uri(router.Urls.First()), new() { ["CfApp:RouteRegistrar:HealthCheckHttpEndpoint"] = "/ready" },
            web => web.MapGet("/ready", (HttpRequest request) =>
            {
                // cloudfoundry/healthcheck healthcheck.go HTTPHealthCheck's headers.
                if (request.Headers.UserAgent == "diego-healthcheck" && request.Headers["X-Forwarded-Proto"] == "https")
                {
                    Interlocked.Increment(ref checks);
                }
                return Volatile.Read(ref ready) ? Results.Ok() : Results.StatusCode(503);
            }));
        await app.StartAsync();

        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (Volatile.Read(ref checks) < 3 && DateTime.UtcNow < deadline)
        {
            await Task.Delay(20);
        }
        Assert.True(Volatile.Read(ref checks) >= 3, "the check is tried again while it fails");
        Assert.Empty(messages);
        Volatile.Write(ref ready, true);
        while (messages.IsEmpty && DateTime.UtcNow < deadline)
        {
            await Task.Delay(20);
        }
        await app.StopAsync();
        await app.DisposeAsync();

        Assert.Equal("register", messages.First().Action);
    }

    // The process's health-check timeout: a start-up check that never passes fails the start — the instance exits
    // with code 1 (Diego crashes it) and never joins the route.
    [Fact]
    public async Task An_instance_whose_start_up_health_check_never_passes_fails_its_start_unregistered()
    {
        var messages = new ConcurrentQueue<(string Action, JsonElement Body, bool AppStillServing)>();
        var port = FreePort();
        await using var router = await StartFakeRouterAsync(messages, port);
        var app = StartApp(port, new Uri(router.Urls.First()), new()
        {
            ["CfApp:RouteRegistrar:HealthCheckHttpEndpoint"] = "/never",
            ["CfApp:RouteRegistrar:HealthCheckTimeout"] = "00:00:00.500",
        }, web => web.MapGet("/never", () => Results.StatusCode(503)));
        var stopped = new TaskCompletionSource();
        try
        {
            await app.StartAsync();
            using var _ = app.Lifetime.ApplicationStopping.Register(stopped.SetResult);
            await stopped.Task.WaitAsync(TimeSpan.FromSeconds(15));
            Assert.Equal(1, Environment.ExitCode);
        }
        finally
        {
            Environment.ExitCode = 0;
            await app.StopAsync();
            await app.DisposeAsync();
        }
        Assert.Empty(messages);
    }

    [Fact]
    public async Task A_health_check_timeout_out_of_range_stops_the_start_naming_the_setting_and_its_range()
    {
        var app = StartApp(FreePort(), new Uri("http://127.0.0.1:9"), new() { ["CfApp:RouteRegistrar:HealthCheckTimeout"] = "00:00:00" });

        var error = await Assert.ThrowsAsync<Microsoft.Extensions.Options.OptionsValidationException>(() => app.StartAsync());
        await app.DisposeAsync();

        Assert.Contains("HealthCheckTimeout", error.Message, StringComparison.Ordinal);
        Assert.Contains("00:00:00.100", error.Message, StringComparison.Ordinal);
    }

    private static WebApplication StartApp(int port, Uri? routerUrl, Dictionary<string, string?>? settings = null,
        Action<WebApplication>? endpoints = null)
    {
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions { EnvironmentName = "Test" });
        builder.Logging.ClearProviders();
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["PORT"] = port.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["CfApp:Version"] = "v1",
            ["CfApp:Routes:0"] = Route,
            ["CfApp:RouteRegistrar:RouterUrl"] = routerUrl?.ToString(),
            ["CfApp:RouteRegistrar:App"] = "hello-istio-v1",
            ["CfApp:RouteRegistrar:RegisterInterval"] = "00:00:00.200",
            ["CfApp:RouteRegistrar:StaleThresholdInSeconds"] = "3",
            ["CfApp:RouteRegistrar:HealthCheckInterval"] = "00:00:00.050",
        });
        builder.Configuration.AddInMemoryCollection(settings ?? []);
        builder.AddServiceDefaults();
        builder.AddCfApp();
        var app = builder.Build();
        endpoints?.Invoke(app);
        app.UseCfApp();
        return app;
    }

    private static async Task<WebApplication> StartFakeRouterAsync(ConcurrentQueue<(string, JsonElement, bool)> messages, int appPort)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        var router = builder.Build();
        router.MapPost("/routes/{action}", async (string action, JsonElement body) =>
        {
            messages.Enqueue((action, body, await IsServingAsync(appPort)));
            return Results.NoContent();
        });
        await router.StartAsync();
        return router;
    }

    private static async Task<bool> IsServingAsync(int port)
    {
        using var socket = new Socket(SocketType.Stream, ProtocolType.Tcp);
        try
        {
            await socket.ConnectAsync(IPAddress.Loopback, port);
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }

    private static int FreePort() => Demo.Tests.LoopbackPorts.Free(1)[0];
}
