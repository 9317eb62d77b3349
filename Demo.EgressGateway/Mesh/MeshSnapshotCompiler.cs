using Demo.EgressGateway.Envoy;
using Demo.EgressGateway.Istio;
using System.Buffers;
using System.Text.Json;
using Polly;
using EnvoyRoute = Demo.EgressGateway.Envoy.Route;

namespace Demo.EgressGateway.Mesh;

/// <summary>
/// Translates a checked <see cref="IstioConfigSet"/> with <see cref="IstioTranslator"/> (Istio → Envoy), then makes
/// the Envoy configuration executable (<see cref="MeshSnapshot"/>). The executable form is built from the Envoy
/// configuration alone.
/// </summary>
public sealed class MeshSnapshotCompiler(ClusterManager clusterManager, EgressGatewayOptions options)
{
    /// <summary>Context key under which the handler passes the current stage to the retry pipeline.</summary>
    public static readonly ResiliencePropertyKey<StreamInfo> FrameKey = new("egress.frame");

    /// <summary>Translates <paramref name="config"/> in the gateway's environment, then makes it executable.</summary>
    /// <param name="config">Resources without errors (<see cref="ConfigAnalysis.Run"/> says).</param>
    /// <param name="revision">The revision number the snapshot carries (1 for the first configuration).</param>
    public MeshSnapshot Compile(IstioConfigSet config, int revision)
    {
        var environment = options.ToMeshEnvironment();
        return Compile(config, environment, IstioTranslator.Translate(config, environment), revision);
    }

    /// <summary>Makes an existing translation executable (the reload path: translated once, by <see cref="ConfigAnalysis.Run"/>).</summary>
    /// <param name="config">The resources <paramref name="xds"/> was translated from.</param>
    /// <param name="environment">The environment it was translated in.</param>
    /// <param name="xds">The translation.</param>
    /// <param name="revision">The revision number the snapshot carries.</param>
    public MeshSnapshot Compile(IstioConfigSet config, MeshEnvironment environment, MeshXds xds, int revision)
    {
        return new MeshSnapshot(revision, config, environment, xds,
            Build(xds.Sidecar, environment, isGateway: false),
            Build(xds.Gateway, environment, isGateway: true));
    }

    private ProxyRuntime Build(ProxyConfig proxy, MeshEnvironment environment, bool isGateway)
    {
        var endpointsOf = proxy.EndpointIndex();
        var definition = new ArrayBufferWriter<byte>();
        using var writer = new Utf8JsonWriter(definition);
        var clusters = proxy.Clusters.ToDictionary(c => c.Name, c =>
        {
            definition.ResetWrittenCount();
            writer.Reset(definition);
            ConfigDump.WriteClusterJson(c, writer);
            return BuildCluster(c, proxy, endpointsOf(c), definition.WrittenSpan, environment, isGateway);
        }, StringComparer.Ordinal);
        var retries = new Dictionary<string, (RetryState, ResiliencePipeline<AttemptOutcome>)>(StringComparer.Ordinal);
        var tables = proxy.RouteConfigs.ToDictionary(r => r.Name, r => BuildRouteTable(r, clusters, retries), StringComparer.Ordinal);
        var listeners = proxy.Listeners.ToDictionary(
            l => l.Port,
            l => new ListenerRuntime(l, l.FilterChains
                .Select(c => (c, c.HttpConnectionManager is { } manager ? tables[manager.Rds.RouteConfigName] : null)).ToList()));
        // ALLOW_ANY: a port with no listener of its own reaches the virtual outbound listener's PassthroughFilterChain
        // (listener.go), which forwards to the PassthroughCluster as the allow_any route does.
        var allowAny = proxy.RouteConfigs.SelectMany(r => r.VirtualHosts).FirstOrDefault(v => v.Name == IstioTranslator.AllowAnyRoute);
        var passthrough = isGateway || allowAny is null
            ? null
            : BuildRouteTable(new RouteConfiguration(PassthroughFilterChain, [allowAny]), clusters, retries);
        return new ProxyRuntime(proxy, listeners, clusters) { Passthrough = passthrough };
    }

    private const string PassthroughFilterChain = "PassthroughFilterChain";

    // Routes with the same timeout and retry_policy share one RetryState and its pipeline (both immutable, the
    // pipeline thread-safe): a configuration of thousands of routes has a handful of distinct policies.
    private static RouteConfigurationRuntime BuildRouteTable(RouteConfiguration config, Dictionary<string, ClusterRuntime> clusters,
        Dictionary<string, (RetryState, ResiliencePipeline<AttemptOutcome>)> retries) =>
        new(config, config.VirtualHosts
            .Select(vh => new VirtualHostRuntime(vh, vh.Routes.Select((r, i) => BuildRoute(r, i, vh, clusters, retries)).ToList()))
            .ToList());

    private static RouteEntry BuildRoute(EnvoyRoute route, int index, VirtualHost virtualHost, Dictionary<string, ClusterRuntime> clusters,
        Dictionary<string, (RetryState, ResiliencePipeline<AttemptOutcome>)> retries)
    {
        var action = route.Action;
        var destinations = new List<WeightedClusterEntry>();
        long cumulative = 0;
        if (action?.Cluster is { } single)
        {
            cumulative = 1;
            destinations.Add(Choice(single, 1, null, action, route, clusters));
        }
        else if (action?.WeightedClusters is { } weighted)
        {
            foreach (var weight in weighted.Clusters)
            {
                cumulative += weight.Weight;
                destinations.Add(Choice(weight.Name, cumulative, weight, action, route, clusters));
            }
        }
        var timeout = action?.Timeout is { } t && t > TimeSpan.Zero ? t : (TimeSpan?)null;
        var key = $"{timeout?.Ticks}|{(action?.RetryPolicy is { } policy ? JsonSerializer.Serialize(policy, ProtoJson.Compact) : "")}";
        if (!retries.TryGetValue(key, out var shared))
        {
            var state = new RetryState(action?.RetryPolicy, timeout);
            retries[key] = shared = (state, state.BuildPipeline(timeout, AdmitRetry));
        }
        var (retry, pipeline) = shared;
        return new RouteEntry
        {
            Config = route,
            Name = route.Name ?? $"{VirtualServiceName(route) ?? virtualHost.Name}.{index}",
            Matcher = new RouteMatcher(route.Match),
            Cors = route.Cors is { } cors ? new CorsFilter(cors) : null,
            Mirrors = route.Action?.RequestMirrorPolicies.Select(m => (clusters.GetValueOrDefault(m.Cluster), m.RuntimeFraction.DefaultValue)).ToList() ?? [],
            Destinations = destinations,
            TotalWeight = cumulative,
            Retry = retry,
            Pipeline = pipeline,
            Timeout = timeout,
        };
    }

    private static string? VirtualServiceName(EnvoyRoute route) => route.ConfigSource?.Split('/')[^1];

    // Envoy's max_retries circuit breaker on the cluster the request was sent to.
    private static bool AdmitRetry(ResilienceContext context)
    {
        if (!context.Properties.TryGetValue(FrameKey, out var frame) || frame.Destination?.Cluster is not { } cluster)
        {
            return true;
        }
        if (cluster.TryStartRetry())
        {
            frame.RetryInFlight = true;
            return true;
        }
        frame.Flags |= ResponseFlags.UpstreamOverflow;
        return false;
    }

    private static WeightedClusterEntry Choice(string name, long cumulative, ClusterWeight? weight, RouteAction action, EnvoyRoute route,
        Dictionary<string, ClusterRuntime> clusters) => new()
        {
            ClusterName = name,
            CumulativeWeight = cumulative,
            Cluster = clusters.GetValueOrDefault(name),
            // Istio's integration case "set host header in route and multi destination": the route's Host wins.
            HostRewrite = action.HostRewriteLiteral ?? weight?.HostRewriteLiteral,
            RequestHeaderOperations = weight is null ? [Envoy.HeaderOperations.Request(route)] : [Envoy.HeaderOperations.Request(weight), Envoy.HeaderOperations.Request(route)],
            ResponseHeaderOperations = weight is null ? [Envoy.HeaderOperations.Response(route)] : [Envoy.HeaderOperations.Response(weight), Envoy.HeaderOperations.Response(route)],
        };

    private ClusterRuntime BuildCluster(Envoy.Cluster cluster, ProxyConfig proxy, IReadOnlyList<LbEndpoint> endpoints, ReadOnlySpan<byte> definition,
        MeshEnvironment environment, bool isGateway)
    {
        var isEgressGateway = !isGateway && HostName.Matches(environment.EgressGatewayService, cluster.ServiceHost);
        var tls = cluster.UpstreamTls;
        var http = cluster.HttpProtocolOptions;
        var limits = cluster.CircuitBreakers.Default;
        // The secrets the TLS context names, as SDS delivers them: a CA bundle file, a certificate and key; the mesh's
        // own (default, ROOTCA) and the machine's roots come from the gateway itself.
        var trustedCa = proxy.FindSecret(tls?.ValidationSecret)?.ValidationContext?.TrustedCa.Filename;
        var clientCertificate = proxy.FindSecret(tls?.CertificateSecret)?.TlsCertificate is { } pair
            ? (pair.CertificateChain.Filename!, pair.PrivateKey.Filename!)
            : ((string, string)?)null;
        // Envoy's NotReadySslSocket: a TLS context whose secret SDS has not supplied fails every connection.
        var secretNotSupplied = tls is { IstioMutual: false }
            && ((tls.ValidationSecret is { } validation && validation != SdsSecretConfig.SystemRoot && trustedCa is null)
                || (tls.CertificateSecret is not null && clientCertificate is null));
        // Each proxy is its own Envoy with its own cluster manager: a cluster of the same name in the sidecar and in the
        // gateway shares no host health, outlier state or pool.
        var key = (isGateway ? "gateway/" : "sidecar/") + cluster.Name;
        clusterManager.Update(key, definition);
        var pool = clusterManager.Pool(key, limits);
        HostRuntime Host(LbEndpoint endpoint) => new()
        {
            Endpoint = endpoint,
            Health = clusterManager.Host(key, $"{endpoint.Address}:{endpoint.PortValue}"),
            Transport = new UpstreamTransport(endpoint.Address, endpoint.PortValue,
                tls is { IstioMutual: false }, tls?.Sni, tls?.MatchSubjectAltNames ?? [], tls?.InsecureSkipVerify ?? false,
                trustedCa, limits.MaxConnections >= int.MaxValue ? null : (int)limits.MaxConnections, cluster.ConnectTimeout)
            {
                IdleTimeout = http?.CommonHttpProtocolOptions?.IdleTimeout,
                MaxConnectionDuration = http?.CommonHttpProtocolOptions?.MaxConnectionDuration,
                Http2 = cluster.Http2 || cluster.UseDownstreamProtocol,
                MeshHop = isEgressGateway,
                Pool = pool,
                SecretNotSupplied = secretNotSupplied,
                ClientCertificate = clientCertificate,
                AutoSanValidation = http?.UpstreamHttpProtocolOptions?.AutoSanValidation ?? false,
                IstioMutual = tls is { IstioMutual: true },
            },
            // TLS, when originated, is added by the upstream client's connect step (see UpstreamClientFactory); the mesh
            // hop's HTTP/2 keeps the app's :scheme (http) over Istio's mTLS, as Envoy forwards it.
            DestinationPrefix = $"{(tls is { IstioMutual: false } && cluster.Http2 ? "https" : "http")}://{endpoint.Address}:{endpoint.PortValue}",
        };
        return new ClusterRuntime
        {
            Config = cluster,
            IsEgressGateway = isEgressGateway,
            Hosts = endpoints.Select(Host).ToList(),
            // An ORIGINAL_DST cluster without endpoints (Istio's PassthroughCluster): each request's own destination.
            OriginalDestinationHost = cluster.Type == "ORIGINAL_DST"
                ? (address, port) => Host(LbEndpoint.At(address, port))
                : null,
            Pool = pool,
        };
    }
}
