using System.Collections.Concurrent;
using System.Text.Json.Serialization;
using Microsoft.Extensions.Options;

namespace Demo.CfRouter;

/// <summary>
/// A route registration, in the shape of gorouter's <c>router.register</c> / <c>router.unregister</c> NATS message
/// (cloudfoundry/gorouter <c>mbus/subscriber.go</c> <c>RegistryMessage</c>): the instance at <c>host:port</c> serves
/// each of <c>uris</c> (host names, e.g. <c>hello-istio-v1.apps.example.com</c>).
/// </summary>
public sealed record RegistryMessage(
    [property: JsonPropertyName("host")] string Host,
    [property: JsonPropertyName("port")] int Port,
    [property: JsonPropertyName("uris")] IReadOnlyList<string> Uris,
    [property: JsonPropertyName("app")] string? App = null,
    [property: JsonPropertyName("private_instance_id")] string? PrivateInstanceId = null,
    [property: JsonPropertyName("private_instance_index")] string? PrivateInstanceIndex = null,
    [property: JsonPropertyName("stale_threshold_in_seconds")] int StaleThresholdInSeconds = 0)
{
    /// <summary>The problems that make gorouter drop a message, or none.</summary>
    public IEnumerable<string> Problems()
    {
        if (string.IsNullOrWhiteSpace(Host))
        {
            yield return "host is empty";
        }
        if (Port is < 1 or > 65535)
        {
            yield return $"port {Port} is not 1-65535";
        }
        if (Uris is null || Uris.Count == 0)
        {
            yield return "uris is empty";
        }
        else if (Uris.FirstOrDefault(u => string.IsNullOrWhiteSpace(u) || u.Contains('/', StringComparison.Ordinal)) is { } bad)
        {
            yield return $"uri '{bad}' is not a host name (route paths are not supported here)";
        }
    }
}

/// <summary>One registered app instance (gorouter <c>route.Endpoint</c>).</summary>
public sealed class RouteEndpoint(string address, string app, string instanceId, string instanceIndex)
{
    /// <summary><c>host:port</c> of the instance (gorouter's <c>CanonicalAddr</c>).</summary>
    public string Address { get; } = address;
    public string App { get; } = app;
    public string InstanceId { get; } = instanceId;
    public string InstanceIndex { get; } = instanceIndex;

    /// <summary>The forwarder's destination prefix: the instance serves plain HTTP, as a CF app on <c>$PORT</c> does.</summary>
    public string DestinationPrefix { get; } = "http://" + address + "/";

    internal DateTimeOffset UpdatedAt { get; set; }
    internal TimeSpan StaleThreshold { get; set; }
}

/// <summary>
/// The route table: route (host name, case-insensitive) → its instances, kept current by registrations, as gorouter's
/// <c>registry/registry.go</c> is by the route emitter's NATS messages. A route whose last instance is unregistered
/// stays known but empty, and an empty route answers like an unknown one (404 <c>unknown_route</c>, gorouter's
/// default <c>empty_pool_response_code_503: false</c>).
/// </summary>
public sealed class RouteRegistry(IOptions<CfRouterOptions> options, TimeProvider time, ILogger<RouteRegistry> logger)
{
    private readonly ConcurrentDictionary<string, EndpointPool> _pools = new(StringComparer.OrdinalIgnoreCase);
    private readonly TimeSpan _retryAfterFailure = options.Value.DropletStaleThreshold / 4;

    /// <summary>The route's pool, or null for a host nobody registered.</summary>
    public EndpointPool? Lookup(string host) => _pools.TryGetValue(host, out var pool) ? pool : null;

    public IReadOnlyDictionary<string, IReadOnlyList<RouteEndpoint>> Snapshot() =>
        _pools.OrderBy(p => p.Key, StringComparer.Ordinal).ToDictionary(p => p.Key, p => p.Value.Endpoints);

    public void Register(RegistryMessage message)
    {
        var now = time.GetUtcNow();
        var stale = message.StaleThresholdInSeconds > 0
            ? TimeSpan.FromSeconds(message.StaleThresholdInSeconds)
            : options.Value.DropletStaleThreshold;
        var address = $"{message.Host}:{message.Port}";
        foreach (var uri in message.Uris)
        {
            var pool = _pools.GetOrAdd(uri.ToLowerInvariant(), host => new EndpointPool(host, _retryAfterFailure));
            var endpoint = new RouteEndpoint(address, message.App ?? "", message.PrivateInstanceId ?? "", message.PrivateInstanceIndex ?? "");
            if (pool.Put(endpoint, now, stale))
            {
                Log.EndpointRegistered(logger, pool.Host, address, endpoint.App.OrDash(), endpoint.InstanceIndex.OrDash());
            }
        }
    }

    public void Unregister(RegistryMessage message)
    {
        var address = $"{message.Host}:{message.Port}";
        foreach (var uri in message.Uris)
        {
            if (Lookup(uri) is { } pool && pool.Remove(address))
            {
                Log.EndpointUnregistered(logger, pool.Host, address, message.App.OrDash(), message.PrivateInstanceIndex.OrDash());
            }
        }
    }

    /// <summary>Removes registrations not renewed within their stale threshold (gorouter <c>pruneStaleDroplets</c>).</summary>
    public void PruneStale()
    {
        var now = time.GetUtcNow();
        foreach (var pool in _pools.Values)
        {
            foreach (var endpoint in pool.RemoveStale(now))
            {
                Log.EndpointPruned(logger, pool.Host, endpoint.Address, endpoint.App.OrDash(), endpoint.InstanceIndex.OrDash(), endpoint.StaleThreshold);
            }
        }
    }
}

/// <summary>Prunes stale registrations every <see cref="CfRouterOptions.PruneStaleDropletsInterval"/>.</summary>
public sealed class StaleRoutePruner(RouteRegistry registry, IOptions<CfRouterOptions> options, TimeProvider time) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(options.Value.PruneStaleDropletsInterval, time);
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken))
            {
                registry.PruneStale();
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }
}
