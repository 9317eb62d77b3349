using System.Collections.Concurrent;
using Demo.EgressGateway.Istio;
using Polly;

namespace Demo.EgressGateway.Mesh;

/// <summary>
/// An applied configuration: the YAML resolved into what the proxy needs per request — route tables per
/// listener, weights as cumulative thresholds, retry pipelines and clusters. Immutable; a reload builds a new one.
/// </summary>
public sealed class MeshConfig
{
    private readonly List<(string Pattern, RouteTable Table)> _meshHosts;
    private readonly List<(string Pattern, RouteTable Table)> _gatewayHosts;
    private readonly List<(string Host, int Port)> _registry;

    internal MeshConfig(int revision, IstioConfigSet source, MeshEnvironment environment,
        List<(string, RouteTable)> meshHosts, List<(string, RouteTable)> gatewayHosts,
        List<(string, int)> registry)
    {
        Revision = revision;
        Source = source;
        Environment = environment;
        _meshHosts = meshHosts;
        _gatewayHosts = gatewayHosts;
        _registry = registry;
    }

    public int Revision { get; }
    public IstioConfigSet Source { get; }
    public MeshEnvironment Environment { get; }

    /// <summary>The Gateway resource this process plays (as VirtualServices name it in spec.gateways).</summary>
    public string GatewayName { get; init; } = "";

    public RouteTable? FindMeshRoutes(string host) => Find(_meshHosts, host);

    public RouteTable? FindGatewayRoutes(string host) => Find(_gatewayHosts, host);

    public bool IsRegistered(string host, int port)
    {
        foreach (var (pattern, registeredPort) in _registry)
        {
            if (registeredPort == port && IstioAnalyzer.HostMatches(pattern, host))
            {
                return true;
            }
        }
        return false;
    }

    private static RouteTable? Find(List<(string Pattern, RouteTable Table)> tables, string host)
    {
        // Exact names first, then the longest wildcard, as Envoy picks virtual hosts.
        foreach (var (pattern, table) in tables)
        {
            if (string.Equals(pattern, host, StringComparison.OrdinalIgnoreCase))
            {
                return table;
            }
        }
        RouteTable? best = null;
        var bestLength = -1;
        foreach (var (pattern, table) in tables)
        {
            if (pattern.Contains('*') && pattern.Length > bestLength && IstioAnalyzer.HostMatches(pattern, host))
            {
                best = table;
                bestLength = pattern.Length;
            }
        }
        return best;
    }
}

/// <summary>The routes of one virtual host, in order: the first route whose match applies wins.</summary>
public sealed record RouteTable(string VirtualService, IReadOnlyList<CompiledRoute> Routes);

public sealed class CompiledRoute
{
    public required VirtualService VirtualService { get; init; }
    public required HttpRoute Route { get; init; }
    public required string Name { get; init; }
    public required IReadOnlyList<CompiledDestination> Destinations { get; init; }
    public required int TotalWeight { get; init; }
    public required RetryPolicy Retry { get; init; }
    public required ResiliencePipeline<AttemptOutcome> Pipeline { get; init; }

    public CompiledDestination PickDestination()
    {
        if (Destinations.Count == 1 || TotalWeight == 0)
        {
            return Destinations[0];
        }
        var ticket = Random.Shared.Next(TotalWeight);
        foreach (var destination in Destinations)
        {
            if (ticket < destination.CumulativeWeight)
            {
                return destination;
            }
        }
        return Destinations[^1];
    }

    public bool Matches(HttpContext context, string host, int port, string gateway)
    {
        var matches = Route.Match;
        if (matches.Count == 0)
        {
            return true;
        }
        foreach (var match in matches)
        {
            if (MatchApplies(match, context, host, port, gateway))
            {
                return true;
            }
        }
        return false;
    }

    // "name" or "namespace/name".
    private static bool NamesGateway(IReadOnlyList<string> gateways, string gateway)
    {
        foreach (var reference in gateways)
        {
            if (reference == gateway
                || (reference.Length > gateway.Length && reference[^(gateway.Length + 1)] == '/' && reference.EndsWith(gateway, StringComparison.Ordinal)))
            {
                return true;
            }
        }
        return false;
    }

    private static bool MatchApplies(HttpMatch match, HttpContext context, string host, int port, string gateway)
    {
        var request = context.Request;
        if (match.Port is { } matchPort && matchPort != port)
        {
            return false;
        }
        if (match.Gateways.Count > 0 && !NamesGateway(match.Gateways, gateway))
        {
            return false;
        }
        if (match.Uri is { } uri && !uri.IsMatch(request.Path.Value ?? "/", match.IgnoreUriCase))
        {
            return false;
        }
        if (match.Method is { } method && !method.IsMatch(request.Method))
        {
            return false;
        }
        if (match.Scheme is { } scheme && !scheme.IsMatch(request.Scheme))
        {
            return false;
        }
        if (match.Authority is { } authority && !authority.IsMatch(host) && !authority.IsMatch(request.Host.Value))
        {
            return false;
        }
        foreach (var (name, value) in match.Headers)
        {
            if (!request.Headers.TryGetValue(name, out var actual) || !value.IsMatch(actual.ToString()))
            {
                return false;
            }
        }
        foreach (var (name, value) in match.WithoutHeaders)
        {
            if (request.Headers.TryGetValue(name, out var actual) && value.IsMatch(actual.ToString()))
            {
                return false;
            }
        }
        foreach (var (name, value) in match.QueryParams)
        {
            if (!request.Query.TryGetValue(name, out var actual) || !value.IsMatch(actual.ToString()))
            {
                return false;
            }
        }
        return true;
    }
}

public sealed class CompiledDestination
{
    public required RouteDestination Source { get; init; }
    public required int CumulativeWeight { get; init; }
    public required Cluster Cluster { get; init; }

    /// <summary>Host after the destination's (or route's) header rewrite; null keeps the request's.</summary>
    public required string? HostHeader { get; init; }

    public required IReadOnlyList<HeaderOperations> RequestHeaderOperations { get; init; }
    public required IReadOnlyList<HeaderOperations> ResponseHeaderOperations { get; init; }
}

/// <summary>
/// An Envoy cluster: <c>outbound|port|subset|host</c>, with the DestinationRule policy that applies to it.
/// </summary>
public sealed class Cluster
{
    public required string Name { get; init; }
    public required string Host { get; init; }
    public required int Port { get; init; }
    public required string? Subset { get; init; }

    /// <summary>The in-mesh hop to Istio's egress gateway (played in-process), not a real upstream.</summary>
    public required bool IsEgressGateway { get; init; }

    /// <summary>SNI the sidecar presents to the egress gateway (selects the gateway's server).</summary>
    public required string? GatewaySni { get; init; }

    /// <summary>Whether an egress gateway server accepts <see cref="GatewaySni"/> on <see cref="Port"/> (else the TLS connection fails).</summary>
    public bool GatewayAcceptsSni { get; init; }

    public required UpstreamTransport? Transport { get; init; }
    public required OutlierSettings? Outlier { get; init; }
    public required OutlierDetector Detector { get; init; }
    public required ConnectionPoolGate Pool { get; init; }
    public required string DestinationPrefix { get; init; }
}

/// <summary>Ejection and pool state outlive a reload, like Envoy keeps host health across config updates.</summary>
public sealed class ClusterStateRegistry(TimeProvider time)
{
    private readonly ConcurrentDictionary<string, OutlierDetector> _detectors = new();
    private readonly ConcurrentDictionary<string, (string Key, ConnectionPoolGate Gate)> _pools = new();

    public OutlierDetector Detector(string cluster) => _detectors.GetOrAdd(cluster, _ => new OutlierDetector(time));

    public ConnectionPoolGate Pool(string cluster, ConnectionPool? pool)
    {
        if (pool is null)
        {
            return ConnectionPoolGate.Unlimited;
        }
        var key = pool.ToString();
        return _pools.AddOrUpdate(cluster,
            _ => (key, new ConnectionPoolGate(pool)),
            (_, existing) => existing.Key == key ? existing : (key, new ConnectionPoolGate(pool))).Gate;
    }
}
