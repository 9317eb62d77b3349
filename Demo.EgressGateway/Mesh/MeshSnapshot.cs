using System.Collections.Concurrent;
using System.Text.RegularExpressions;
using Demo.EgressGateway.Envoy;
using Demo.EgressGateway.Istio;
using HeaderOperations = Demo.EgressGateway.Envoy.HeaderOperations;
using Polly;
using EnvoyCluster = Demo.EgressGateway.Envoy.Cluster;
using EnvoyRoute = Demo.EgressGateway.Envoy.Route;

namespace Demo.EgressGateway.Mesh;

/// <summary>
/// An applied configuration: the Envoy configuration <see cref="IstioTranslator"/> produced for the two proxies
/// (<see cref="Xds"/>), made executable — listeners by port, filter chains by SNI, virtual hosts by domain, routes
/// with compiled matchers, weights and retry pipelines, clusters with their endpoints. Immutable; a reload builds a
/// new one. Nothing here reads the Istio resources: the data plane runs only the translated form.
/// </summary>
public sealed class MeshSnapshot
{
    internal MeshSnapshot(int revision, IstioConfigSet source, MeshEnvironment environment, MeshXds xds, ProxyRuntime sidecar, ProxyRuntime gateway)
    {
        Revision = revision;
        Source = source;
        Environment = environment;
        Xds = xds;
        Sidecar = sidecar;
        Gateway = gateway;
    }

    public int Revision { get; }
    public IstioConfigSet Source { get; }
    public MeshEnvironment Environment { get; }

    /// <summary>What istiod would push: the sidecar's and the egress gateway's listeners, routes and clusters.</summary>
    public MeshXds Xds { get; }

    public ProxyRuntime Sidecar { get; }
    public ProxyRuntime Gateway { get; }
}

/// <summary>One proxy's executable configuration.</summary>
public sealed class ProxyRuntime(ProxyConfig config, IReadOnlyDictionary<int, ListenerRuntime> listeners, IReadOnlyDictionary<string, ClusterRuntime> clusters)
{
    public ProxyConfig Config { get; } = config;

    /// <summary>The listener for a destination port, or null (no HTTP listener: Envoy passes the connection to the BlackHoleCluster).</summary>
    public ListenerRuntime? FindListener(int port) => listeners.GetValueOrDefault(port);

    /// <summary>The cluster named by a route, or null (Envoy: 503 <c>NC</c>, cluster_not_found).</summary>
    public ClusterRuntime? FindCluster(string name) => clusters.GetValueOrDefault(name);

    public IEnumerable<ClusterRuntime> Clusters => clusters.Values;

    /// <summary>
    /// A sidecar under ALLOW_ANY: the routes of its virtual outbound listener's passthrough chain (the allow_any route
    /// to the PassthroughCluster) for a port with no listener of its own; null under REGISTRY_ONLY (BlackHoleCluster).
    /// </summary>
    public RouteConfigurationRuntime? Passthrough { get; init; }
}

/// <summary>A route configuration: its virtual hosts, selected by the request's Host as Envoy does.</summary>
public sealed class RouteConfigurationRuntime
{
    // Envoy's RouteMatcher keeps exact domains in a hash map and the wildcards by kind: the exact names here (the first
    // virtual host of a name), the rest in order.
    private readonly Dictionary<string, VirtualHostRuntime> _exactDomains = new(StringComparer.OrdinalIgnoreCase);
    private readonly List<(string Domain, VirtualHostRuntime VirtualHost)> _wildcardDomains = [];

    public RouteConfigurationRuntime(RouteConfiguration config, IReadOnlyList<VirtualHostRuntime> virtualHosts)
    {
        Config = config;
        VirtualHosts = virtualHosts;
        foreach (var virtualHost in virtualHosts)
        {
            foreach (var domain in virtualHost.Config.Domains)
            {
                _exactDomains.TryAdd(domain, virtualHost);
                if (domain.StartsWith('*') || domain.EndsWith('*'))
                {
                    _wildcardDomains.Add((domain, virtualHost));
                }
            }
        }
    }

    public RouteConfiguration Config { get; }
    public IReadOnlyList<VirtualHostRuntime> VirtualHosts { get; }

    /// <summary>Envoy's domain search: exact, then the longest suffix wildcard (<c>*.x</c>), then prefix wildcards, then <c>*</c>.</summary>
    public VirtualHostRuntime? FindVirtualHost(string authority)
    {
        // ignore_port_in_host_matching (Istio sets it): the port of the Host plays no part in choosing a virtual host
        // (Envoy's RouteMatcher::findVirtualHost strips it with HeaderUtility::getPortStart).
        authority = HeaderUtility.StripPortFromHost(authority);
        if (_exactDomains.TryGetValue(authority, out var exact))
        {
            return exact;
        }
        VirtualHostRuntime? best = null;
        var bestRank = int.MaxValue;
        var bestLength = -1;
        foreach (var (domain, virtualHost) in _wildcardDomains)
        {
            int rank;
            if (domain == "*")
            {
                rank = 3;
            }
            else if (domain.StartsWith('*') && authority.EndsWith(domain.AsSpan(1), StringComparison.OrdinalIgnoreCase) && authority.Length > domain.Length - 1)
            {
                rank = 1;
            }
            else if (domain.EndsWith('*') && authority.StartsWith(domain.AsSpan(0, domain.Length - 1), StringComparison.OrdinalIgnoreCase) && authority.Length > domain.Length - 1)
            {
                rank = 2;
            }
            else
            {
                continue;
            }
            if (rank < bestRank || (rank == bestRank && domain.Length > bestLength))
            {
                best = virtualHost;
                bestRank = rank;
                bestLength = domain.Length;
            }
        }
        return best;
    }
}

public sealed class VirtualHostRuntime(VirtualHost config, IReadOnlyList<RouteEntry> routes)
{
    public VirtualHost Config { get; } = config;
    public IReadOnlyList<RouteEntry> Routes { get; } = routes;
}

/// <summary>An Envoy route made executable: compiled matcher, the weighted clusters, retry policy and its pipeline.</summary>
public sealed class RouteEntry
{
    public required EnvoyRoute Config { get; init; }

    /// <summary>The route's name for logs and metrics: Envoy's route name, else the VirtualService's name with its index.</summary>
    public required string Name { get; init; }

    public required RouteMatcher Matcher { get; init; }

    /// <summary>The route's CORS filter; null: no CORS policy.</summary>
    public CorsFilter? Cors { get; init; }

    /// <summary>The route's request mirror policies: the mirror cluster (null when the proxy has none) and its share.</summary>
    public IReadOnlyList<(ClusterRuntime? Cluster, FractionalPercent Share)> Mirrors { get; init; } = [];

    /// <summary>Empty for a direct response.</summary>
    public required IReadOnlyList<WeightedClusterEntry> Destinations { get; init; }

    public required long TotalWeight { get; init; }
    public required RetryState Retry { get; init; }
    public required ResiliencePipeline<AttemptOutcome> Pipeline { get; init; }

    /// <summary>The route timeout; null: none (Envoy's 0, no global timer).</summary>
    public TimeSpan? Timeout { get; init; }

    /// <summary>
    /// Envoy's <c>x-envoy-expected-rq-timeout-ms</c> for a try that starts <paramref name="elapsed"/> after the route
    /// timer did (router.cc <c>FilterUtility::setTimeoutHeaders</c>, called with 0 for the first try and with the time
    /// since the request completed from <c>Filter::doRetry</c>): the per-try timeout, else the route's, capped by what
    /// is left of the route's; 1 once nothing is left; null when neither is set.
    /// </summary>
    public long? ExpectedTimeoutMs(TimeSpan elapsed)
    {
        var global = Timeout is { } timeout ? (long)timeout.TotalMilliseconds : 0;
        var expected = Retry.PerTryTimeout is { } perTry ? (long)perTry.TotalMilliseconds : 0;
        if (expected == 0)
        {
            expected = global;
        }
        if (expected <= 0)
        {
            return null;
        }
        if (global > 0)
        {
            var elapsedMs = (long)elapsed.TotalMilliseconds;
            expected = elapsedMs >= global ? 1 : Math.Min(expected, global - elapsedMs);
        }
        return expected;
    }

    public WeightedClusterEntry PickDestination()
    {
        if (Destinations.Count == 1 || TotalWeight == 0)
        {
            return Destinations[0];
        }
        var ticket = Random.Shared.NextInt64(TotalWeight);
        foreach (var destination in Destinations)
        {
            if (ticket < destination.CumulativeWeight)
            {
                return destination;
            }
        }
        return Destinations[^1];
    }
}

/// <summary>One cluster a route may pick, with its share and the header/Host changes that go with it.</summary>
public sealed class WeightedClusterEntry
{
    public required string ClusterName { get; init; }
    public required long CumulativeWeight { get; init; }

    /// <summary>Null when the cluster does not exist in this proxy (Envoy: 503 NC).</summary>
    public required ClusterRuntime? Cluster { get; init; }

    /// <summary>The Host after the route's (or, without one, this weighted cluster's) host_rewrite_literal; null keeps the request's.</summary>
    public required string? HostRewrite { get; init; }

    /// <summary>Applied in Envoy's default order: the weighted cluster's first, then the route's.</summary>
    public required IReadOnlyList<HeaderOperations> RequestHeaderOperations { get; init; }

    public required IReadOnlyList<HeaderOperations> ResponseHeaderOperations { get; init; }
}

/// <summary>Envoy's RouteMatch, compiled: path (prefix/exact/regex, case sensitivity), header and query matchers.</summary>
public sealed class RouteMatcher
{
    private readonly RouteMatch _match;
    private readonly Regex? _pathRegex;
    private readonly (HeaderMatcher Matcher, Regex? Regex)[] _headers;
    private readonly (QueryParameterMatcher Matcher, Regex? Regex)[] _query;

    public RouteMatcher(RouteMatch match)
    {
        _match = match;
        // case_sensitive is ignored for safe_regex (route_components.proto): a regex is always case-sensitive.
        _pathRegex = match.SafeRegex is { } regex ? Compile(regex.Regex, ignoreCase: false) : null;
        _headers = match.Headers.Select(h => (h, h.StringMatch?.SafeRegex is { } r ? Compile(r.Regex, false) : null)).ToArray();
        _query = match.QueryParameters.Select(q => (q, q.StringMatch?.SafeRegex is { } r ? Compile(r.Regex, false) : null)).ToArray();
    }

    // RE2 matches the whole value (Envoy's safe_regex is a full match).
    internal static Regex Compile(string pattern, bool ignoreCase) =>
        new($"^(?:{pattern})$", RegexOptions.CultureInvariant | RegexOptions.NonBacktracking | (ignoreCase ? RegexOptions.IgnoreCase : 0),
            TimeSpan.FromMilliseconds(100));

    public bool Matches(HttpRequest request, string authority)
    {
        var path = request.Path.Value ?? "/";
        var comparison = _match.IsCaseSensitive ? StringComparison.Ordinal : StringComparison.OrdinalIgnoreCase;
        if (_match.Prefix is { } prefix && !path.StartsWith(prefix, comparison))
        {
            return false;
        }
        if (_match.Path is { } exact && !string.Equals(path, exact, comparison))
        {
            return false;
        }
        if (_pathRegex is not null && !_pathRegex.IsMatch(path))
        {
            return false;
        }
        foreach (var (matcher, regex) in _headers)
        {
            var value = matcher.Name switch
            {
                ":authority" => authority,
                ":method" => request.Method,
                ":scheme" => request.Scheme,
                ":path" => path + request.QueryString.Value,
                _ => request.Headers.TryGetValue(matcher.Name, out var values) ? values.ToString() : null,
            };
            if (value is null && matcher.TreatMissingHeaderAsEmpty)
            {
                value = "";
            }
            var matched = matcher.PresentMatch is { } present
                ? (value is not null) == present
                : value is not null && IsMatch(matcher.StringMatch!, regex, value, ignoreCase: false);
            if (matched == matcher.InvertMatch)
            {
                return false;
            }
        }
        foreach (var (matcher, regex) in _query)
        {
            var present = request.Query.TryGetValue(matcher.Name, out var values);
            if (matcher.PresentMatch is true ? !present : !present || !IsMatch(matcher.StringMatch!, regex, values.ToString(), ignoreCase: false))
            {
                return false;
            }
        }
        return true;
    }

    private static bool IsMatch(StringMatcher matcher, Regex? regex, string value, bool ignoreCase)
    {
        var comparison = ignoreCase ? StringComparison.OrdinalIgnoreCase : StringComparison.Ordinal;
        return matcher.Exact is { } exact ? string.Equals(value, exact, comparison)
            : matcher.Prefix is { } prefix ? value.StartsWith(prefix, comparison)
            : regex!.IsMatch(value);
    }
}

/// <summary>
/// An Envoy cluster at run time: <c>outbound|port|subset|host</c>, its endpoints (hosts, each with outlier state),
/// circuit breakers and TLS settings. State that Envoy keeps across config updates (host health, pools) lives in
/// <see cref="ClusterManager"/>.
/// </summary>
public sealed class ClusterRuntime
{
    public required EnvoyCluster Config { get; init; }
    public string Name => Config.Name;
    public string Host => Config.ServiceHost;
    public int Port => Config.Port;
    public string? Subset => Config.Subset;

    /// <summary>The sidecar's cluster for Istio's egress gateway Service: its connections go to the gateway's own listener (<see cref="GatewayListenerManager"/>).</summary>
    public required bool IsEgressGateway { get; init; }

    /// <summary>SNI the sidecar presents (to the egress gateway: selects its filter chain); null: auto SNI from the Host.</summary>
    public string? Sni => Config.UpstreamTls?.Sni;

    public required IReadOnlyList<HostRuntime> Hosts { get; init; }

    /// <summary>
    /// For an ORIGINAL_DST cluster: makes the host for a connection's or a request's original destination (address,
    /// port) — what a TCP proxy on the cluster connects to, and, when the cluster has no endpoints (Istio's
    /// PassthroughCluster), what its HTTP requests go to. Envoy's original_dst_cluster.cc adds a host per destination address on
    /// first use; here the destination is the request's Host, as the app dialled it through its sidecar.
    /// </summary>
    public Func<string, int, HostRuntime>? OriginalDestinationHost { get; init; }

    private readonly System.Collections.Concurrent.ConcurrentDictionary<(string, int), HostRuntime> _originalDestinations = new();

    /// <summary>The host for <paramref name="address"/>:<paramref name="port"/> of an ORIGINAL_DST cluster, made once per destination.</summary>
    public HostRuntime OriginalDestination(string address, int port) =>
        _originalDestinations.GetOrAdd((address, port), static (key, make) => make(key.Item1, key.Item2), OriginalDestinationHost!);

    /// <summary>The cluster's outlier detection; null: none (no host is ever ejected).</summary>
    public Envoy.OutlierDetection? Outlier => Config.OutlierDetection;
    public required ConnectionPoolGate Pool { get; init; }

    private int _retriesInFlight;

    /// <summary>Envoy's max_retries circuit breaker: false when as many retries as allowed are already in flight.</summary>
    public bool TryStartRetry()
    {
        if (Interlocked.Increment(ref _retriesInFlight) > Config.CircuitBreakers.Default.MaxRetries)
        {
            Interlocked.Decrement(ref _retriesInFlight);
            return false;
        }
        return true;
    }

    public void EndRetry() => Interlocked.Decrement(ref _retriesInFlight);

    private RingHashLoadBalancer? _ringHash;

    // Envoy's round robin starts each host list at a random seed (round_robin_lb.h refreshHostSource: seed_).
    private int _roundRobinIndex = Random.Shared.Next();

    /// <summary>
    /// Envoy's load balancing over healthy hosts by the cluster's <c>lb_policy</c>, each as Envoy picks among hosts of
    /// equal weight (envoy source/extensions/load_balancing_policies): ROUND_ROBIN the next host in turn
    /// (round_robin_lb.h unweightedHostPick); RANDOM any host (random_lb.cc); LEAST_REQUEST, Istio's default, two
    /// random choices with replacement, the one with fewer active requests kept (least_request_lb.cc
    /// unweightedHostPickNChoices, choice_count 2). When the retry host predicate asks to avoid hosts
    /// already tried, the pick is made again up to 5 times (Istio's host_selection_retry_max_attempts). With no healthy
    /// host, panic routing over all hosts only when the healthy share is below the panic threshold (Istio:
    /// minHealthPercent, 0 by default, i.e. never). Null: no healthy upstream (503 UH).
    /// </summary>
    /// <param name="hash">The request's hash for a RING_HASH or MAGLEV cluster (<see cref="RingHashLoadBalancer.RequestHash"/>); null: none (a random pick).</param>
    public HostRuntime? PickHost(IReadOnlyCollection<HostRuntime>? previous, bool avoidPrevious, ulong? hash = null)
    {
        if (Hosts.Count == 0)
        {
            return null;
        }
        var panicThreshold = Config.CommonLbConfig?.HealthyPanicThreshold.Value ?? 50;
        if (Hosts.Count == 1)
        {
            // One endpoint (a DNS ServiceEntry host): healthy, or — with a panic threshold above 0 — used anyway.
            var only = Hosts[0];
            return Outlier is null || !only.Health.IsEjected(Outlier) || panicThreshold > 0 ? only : null;
        }
        var healthy = Hosts.Where(h => Outlier is null || !h.Health.IsEjected(Outlier)).ToList();
        if (Outlier is not null && healthy.Count * 100.0 / Hosts.Count < panicThreshold)
        {
            healthy = Hosts.ToList();
        }
        if (healthy.Count == 0)
        {
            return null;
        }
        for (var attempt = 0; attempt < 5; attempt++)
        {
            var pick = Config.LbPolicy switch
            {
                "RING_HASH" or "MAGLEV" when hash is { } h => (_ringHash ??= new RingHashLoadBalancer(Config.RingHashLbConfig?.MinimumRingSize)).Pick(healthy, h, attempt),
                "ROUND_ROBIN" => healthy[(int)((uint)Interlocked.Increment(ref _roundRobinIndex) % (uint)healthy.Count)],
                "RANDOM" or "RING_HASH" or "MAGLEV" => healthy[Random.Shared.Next(healthy.Count)],
                _ => LeastRequestOfTwo(healthy),
            };
            if (!avoidPrevious || previous is null || !previous.Contains(pick) || attempt == 4)
            {
                return pick;
            }
        }
        return healthy[0];
    }

    private static HostRuntime LeastRequestOfTwo(List<HostRuntime> healthy)
    {
        var a = healthy[Random.Shared.Next(healthy.Count)];
        var b = healthy[Random.Shared.Next(healthy.Count)];
        return a.ActiveRequests <= b.ActiveRequests ? a : b;
    }
}

/// <summary>One endpoint of a cluster: where it is, how to reach it, its outlier state.</summary>
public sealed class HostRuntime
{
    public required LbEndpoint Endpoint { get; init; }
    public required UpstreamTransport? Transport { get; init; }
    public required HostHealth Health { get; init; }

    /// <summary>The request URL prefix for YARP; the connection goes where EgressGateway:Upstreams maps the address.</summary>
    public required string DestinationPrefix { get; init; }

    private int _active;
    private HttpMessageInvoker? _client;
    private ConcurrentDictionary<string, HttpMessageInvoker>? _clientsBySni;

    /// <summary>The pooled client for <see cref="Transport"/>, resolved once (not per request).</summary>
    public HttpMessageInvoker Client(UpstreamClientFactory factory) => _client ??= factory.GetClient(Transport!);

    /// <summary>
    /// With auto_sni the SNI (and, with auto_san_validation, the name the certificate must carry) is the request's host
    /// as Envoy's router parses the Host (<see cref="Envoy.HttpUtility.ParseAuthority"/>): no SNI for an IP literal,
    /// whose certificate must then carry it as an IP SAN. One client per host.
    /// </summary>
    public HttpMessageInvoker ClientForAuthority(UpstreamClientFactory factory, Envoy.HttpUtility.AuthorityAttributes authority) =>
        (_clientsBySni ??= new(StringComparer.OrdinalIgnoreCase)).GetOrAdd(authority.Host, static (name, state) => state.Factory.GetClient(
            state.Transport with
            {
                // An empty SNI sends none (SslStream's TargetHost), as Envoy's router sets no server name for an IP.
                Sni = state.IsIpAddress ? "" : name,
                VerifySan = state.Transport.AutoSanValidation ? name : null,
            }),
            (Factory: factory, Transport: Transport!, authority.IsIpAddress));

    public int ActiveRequests => Volatile.Read(ref _active);
    public void Enter() => Interlocked.Increment(ref _active);
    public void Exit() => Interlocked.Decrement(ref _active);
}
