using System.Net.Http.Json;
using System.Text.Json.Serialization;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.Options;
using OpenTelemetry;

namespace Demo.CfApps;

/// <summary>
/// Local run only: registers this instance's routes with the local router once its start-up health check passes, renews the registration
/// every <see cref="RouteRegistrarOptions.RegisterInterval"/> (so a restarted router learns it again), and
/// unregisters before the server stops taking requests — what Diego's route emitter does for an instance on a
/// platform (<c>cf stop</c>: the route loses the instance, and with no instance left gorouter answers 404
/// <c>unknown_route</c>). The message is gorouter's <c>router.register</c> / <c>router.unregister</c>.
/// The start-up check is Diego's (cloudfoundry/healthcheck, run by the executor until it passes; only then is the
/// instance running and its route emitted): with <c>health-check-type: http</c> a GET of the endpoint on <c>$PORT</c>
/// until it answers 200, each try with a 1 s timeout; with <c>port</c> a TCP connection. So the router never sends
/// an instance a request before the instance has answered one.
/// </summary>
public sealed class RouteRegistrar(
    IServer server,
    IOptions<CfAppOptions> options,
    IConfiguration configuration,
    IHostApplicationLifetime lifetime,
    InstanceIndex instanceIndex,
    ILogger<RouteRegistrar> logger) : BackgroundService, IHostedLifecycleService
{
    private readonly HttpClient _http = new() { Timeout = TimeSpan.FromSeconds(2) };
    private readonly string _instanceId = configuration["CF_INSTANCE_GUID"] ?? Guid.NewGuid().ToString();
    private Registration? _registration;
    private readonly CancellationTokenSource _stopRenewing = new();
    private bool? _lastSucceeded;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var settings = options.Value.RouteRegistrar;
        if (settings.RouterUrl is null)
        {
            return;
        }
        var started = new TaskCompletionSource();
        using (lifetime.ApplicationStarted.Register(started.SetResult))
        {
            await started.Task.WaitAsync(stoppingToken);
        }
        var port = ListeningPort();
        if (!await StartupHealthCheck.WaitUntilHealthyAsync(port, settings.HealthCheckHttpEndpoint, settings.HealthCheckInterval,
            settings.HealthCheckTimeout, stoppingToken))
        {
            // Diego fails the start: the instance crashes and never joins the route (on a platform Diego then restarts it).
            Log.StartupHealthCheckFailed(logger, settings.HealthCheckHttpEndpoint is { Length: > 0 } path ? $"http {path}" : "port", port,
                settings.HealthCheckTimeout.TotalSeconds);
            Environment.ExitCode = 1;
            lifetime.StopApplication();
            return;
        }
        _registration = new Registration("127.0.0.1", port, options.Value.Routes, settings.App, _instanceId,
            instanceIndex.Value, settings.StaleThresholdInSeconds);

        using var timer = new PeriodicTimer(settings.RegisterInterval);
        using var renewing = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken, _stopRenewing.Token);
        try
        {
            do
            {
                // Not cancelled by the stop: a renewal in flight completes before the unregistration is sent, so it
                // can never arrive after it and put the stopping instance back in the route.
                await SendAsync("register", stoppingToken);
            }
            while (await timer.WaitForNextTickAsync(renewing.Token));
        }
        catch (OperationCanceledException) when (renewing.IsCancellationRequested)
        {
        }
    }

    /// <summary>
    /// Runs before any hosted service stops: ends the renewals, then unregisters, so the route is gone before Kestrel
    /// stops accepting requests.
    /// </summary>
    public async Task StoppingAsync(CancellationToken cancellationToken)
    {
        await _stopRenewing.CancelAsync();
        if (ExecuteTask is { } renewals)
        {
            await renewals.WaitAsync(cancellationToken);
        }
        if (_registration is not null)
        {
            await SendAsync("unregister", cancellationToken);
        }
    }

    private async Task SendAsync(string action, CancellationToken cancellationToken)
    {
        var registration = _registration!;
        try
        {
            // The registrar's own calls are platform plumbing, not the app's traffic: no spans for them.
            using var _ = SuppressInstrumentationScope.Begin();
            using var response = await _http.PostAsJsonAsync(new Uri(options.Value.RouteRegistrar.RouterUrl!, $"/routes/{action}"),
                registration, cancellationToken);
            response.EnsureSuccessStatusCode();
            if (_lastSucceeded != true || action == "unregister")
            {
                Log.RouteRegistration(logger, action, string.Join(", ", registration.Uris), registration.Port,
                    registration.PrivateInstanceIndex is { Length: > 0 } index ? index : "-");
            }
            _lastSucceeded = true;
        }
        catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException && !cancellationToken.IsCancellationRequested)
        {
            if (_lastSucceeded != false)
            {
                Log.RouteRegistrationFailed(logger, action, options.Value.RouteRegistrar.RouterUrl!, ex.Message);
            }
            _lastSucceeded = false;
        }
    }

    private int ListeningPort()
    {
        if (int.TryParse(configuration["PORT"], out var port))
        {
            return port;
        }
        var address = server.Features.Get<IServerAddressesFeature>()?.Addresses.FirstOrDefault(a => a.StartsWith("http://", StringComparison.Ordinal))
            ?? throw new InvalidOperationException("CfApp:RouteRegistrar needs $PORT or a plain-HTTP listener to register.");
        return new Uri(address.Replace("://+", "://localhost", StringComparison.Ordinal).Replace("://*", "://localhost", StringComparison.Ordinal)).Port;
    }

    public Task StartingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StartedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StoppedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public override void Dispose()
    {
        _http.Dispose();
        _stopRenewing.Dispose();
        base.Dispose();
    }

    /// <summary>gorouter's registry message (<c>mbus/subscriber.go</c>), the fields a route emitter fills for an app instance.</summary>
    private sealed record Registration(
        [property: JsonPropertyName("host")] string Host,
        [property: JsonPropertyName("port")] int Port,
        [property: JsonPropertyName("uris")] IReadOnlyList<string> Uris,
        [property: JsonPropertyName("app")] string App,
        [property: JsonPropertyName("private_instance_id")] string PrivateInstanceId,
        [property: JsonPropertyName("private_instance_index")] string PrivateInstanceIndex,
        [property: JsonPropertyName("stale_threshold_in_seconds")] int StaleThresholdInSeconds);
}
