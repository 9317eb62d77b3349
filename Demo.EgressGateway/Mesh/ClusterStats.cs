using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using System.Globalization;
using System.Text;
using Microsoft.Extensions.Options;

namespace Demo.EgressGateway.Mesh;

/// <summary>
/// Envoy's per-host cluster statistics for <c>GET /clusters</c> on the admin port, in Envoy's text format
/// (<c>source/server/admin/clusters_handler.cc</c>): one <c>cluster::host:port::stat::value</c> line per host
/// statistic, after the cluster's circuit-breaker thresholds.
/// </summary>
/// <remarks>
/// <para>Requests are counted per proxy stage when the stage completes: <c>rq_total</c> adds the stage's attempts
/// (retries included), <c>rq_success</c>/<c>rq_error</c> count the final outcome (error: 5xx or no response, as Envoy's
/// host <c>rq_error</c>), <c>rq_timeout</c> counts <c>UT</c>, <c>cx_connect_fail</c> counts <c>UF</c>.
/// <c>rq_active</c> is the endpoint's requests in flight now.</para>
/// <para>Connections (<c>cx_active</c>, <c>cx_total</c>) are the gateway's real upstream connections, read from
/// .NET's <c>http.client.open_connections</c> metric by <c>server.address</c>/<c>server.port</c>, from the meters of the
/// host's <see cref="IMeterFactory"/> only — the sidecar's connections to the gateway's listener among them.</para>
/// </remarks>
public sealed class ClusterStats : IDisposable
{
    /// <summary>Istio's default circuit-breaker thresholds (max uint32: no limit), shown when no connectionPool sets one.</summary>
    public const long IstioUnlimited = uint.MaxValue;

    private readonly ConcurrentDictionary<string, HostCounters> _hosts = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<(string Host, int Port), ConnectionCounters> _connections = new();
    private readonly MeterListener _listener;
    private readonly IOptionsMonitor<EgressGatewayOptions> _options;

    public ClusterStats(IOptionsMonitor<EgressGatewayOptions> options, IMeterFactory meterFactory)
    {
        _options = options;
        _listener = new MeterListener
        {
            InstrumentPublished = (instrument, listener) =>
            {
                // Only the meters of this host's factory (UpstreamClientFactory's handlers use it): a connection of
                // another gateway in the same process, even to a reused port, is not this one's.
                if (instrument is { Meter.Name: "System.Net.Http", Name: "http.client.open_connections" or "http.client.connection.duration" }
                    && ReferenceEquals(instrument.Meter.Scope, meterFactory))
                {
                    listener.EnableMeasurementEvents(instrument);
                }
            },
        };
        // open_connections moves a connection between its idle and active states; connection.duration is recorded
        // once, when a connection closes.
        _listener.SetMeasurementEventCallback<long>((_, delta, tags, _) =>
        {
            if (Connections(tags) is { } counters)
            {
                Interlocked.Add(ref counters.Open, delta);
            }
        });
        _listener.SetMeasurementEventCallback<double>((_, _, tags, _) =>
        {
            if (Connections(tags) is { } counters)
            {
                Interlocked.Increment(ref counters.Closed);
            }
        });
        _listener.Start();
    }

    private ConnectionCounters? Connections(ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        string? host = null;
        var port = 0;
        foreach (var tag in tags)
        {
            if (tag.Key == "server.address")
            {
                host = tag.Value as string;
            }
            else if (tag.Key == "server.port" && tag.Value is int p)
            {
                port = p;
            }
        }
        return host is null ? null : _connections.GetOrAdd((host, port), _ => new ConnectionCounters());
    }

    /// <summary>A proxy stage finished on <paramref name="cluster"/> after <paramref name="attempts"/> attempts.</summary>
    public void Completed(ClusterRuntime cluster, int attempts, int status, ResponseFlags flags)
    {
        if ((flags & (ResponseFlags.NoHealthyUpstream | ResponseFlags.UpstreamOverflow)) != 0)
        {
            // No host was picked (ejected) or the circuit breaker refused: Envoy counts these on the cluster, not a host.
            return;
        }
        var counters = Counters(cluster.Name);
        Interlocked.Add(ref counters.Total, attempts);
        if (flags.HasFlag(ResponseFlags.DownstreamConnectionTermination))
        {
            // The downstream went away: Envoy resets the upstream request and charges no response code to the host.
            return;
        }
        if (status >= 500 || status == 0)
        {
            Interlocked.Increment(ref counters.Error);
        }
        else
        {
            Interlocked.Increment(ref counters.Success);
        }
        if (flags.HasFlag(ResponseFlags.UpstreamRequestTimeout))
        {
            Interlocked.Increment(ref counters.Timeout);
        }
        if (flags.HasFlag(ResponseFlags.UpstreamConnectionFailure))
        {
            Interlocked.Increment(ref counters.ConnectFail);
        }
    }

    private HostCounters Counters(string cluster) => _hosts.GetOrAdd(cluster, _ => new HostCounters());

    /// <summary>The clusters of both proxies of <paramref name="config"/>, each once, by name.</summary>
    public static IReadOnlyList<ClusterRuntime> ClustersOf(MeshSnapshot config) =>
        [.. config.Sidecar.Clusters.Concat(config.Gateway.Clusters).DistinctBy(c => c.Name).OrderBy(c => c.Name, StringComparer.Ordinal)];

    /// <summary>Envoy's <c>/clusters</c> text for the clusters of <paramref name="config"/>: thresholds, then one block per endpoint.</summary>
    public string Render(MeshSnapshot config)
    {
        var text = new StringBuilder();
        foreach (var cluster in ClustersOf(config))
        {
            var name = cluster.Name;
            text.Append(CultureInfo.InvariantCulture, $"{name}::observability_name::{name}\n");
            var limits = cluster.Pool.Limits;
            foreach (var priority in new[] { "default_priority", "high_priority" })
            {
                text.Append(CultureInfo.InvariantCulture, $"{name}::{priority}::max_connections::{limits.MaxConnections}\n");
                text.Append(CultureInfo.InvariantCulture, $"{name}::{priority}::max_pending_requests::{limits.MaxPendingRequests}\n");
                text.Append(CultureInfo.InvariantCulture, $"{name}::{priority}::max_requests::{limits.MaxRequests}\n");
                text.Append(CultureInfo.InvariantCulture, $"{name}::{priority}::max_retries::{cluster.Config.CircuitBreakers.Default.MaxRetries}\n");
            }
            text.Append(CultureInfo.InvariantCulture, $"{name}::added_via_api::true\n");

            var counters = _hosts.GetValueOrDefault(name) ?? new HostCounters();
            foreach (var endpoint in cluster.Hosts)
            {
                var host = $"{name}::{Address(cluster, endpoint)}";
                var connections = endpoint.Transport is { } transport
                    ? _connections.GetValueOrDefault((transport.Host, transport.Port)) ?? new ConnectionCounters()
                    : new ConnectionCounters();
                var open = Math.Max(0, Interlocked.Read(ref connections.Open));
                Append(text, host, "cx_total", open + Interlocked.Read(ref connections.Closed));
                Append(text, host, "cx_active", open);
                Append(text, host, "cx_connect_fail", Interlocked.Read(ref counters.ConnectFail));
                Append(text, host, "rq_active", endpoint.ActiveRequests);
                Append(text, host, "rq_total", Interlocked.Read(ref counters.Total));
                Append(text, host, "rq_timeout", Interlocked.Read(ref counters.Timeout));
                Append(text, host, "rq_success", Interlocked.Read(ref counters.Success));
                Append(text, host, "rq_error", Interlocked.Read(ref counters.Error));
                text.Append(CultureInfo.InvariantCulture, $"{host}::hostname::{endpoint.Endpoint.Address}\n");
                var ejected = cluster.Outlier is { } outlier && endpoint.Health.IsEjected(outlier);
                text.Append(CultureInfo.InvariantCulture, $"{host}::health_flags::{(ejected ? "/failed_outlier_check" : "healthy")}\n");
                text.Append(CultureInfo.InvariantCulture, $"{host}::weight::1\n");
                text.Append(CultureInfo.InvariantCulture, $"{host}::region::\n{host}::zone::\n{host}::sub_zone::\n{host}::canary::false\n{host}::priority::0\n");
                text.Append(CultureInfo.InvariantCulture, $"{host}::success_rate::-1\n{host}::local_origin_success_rate::-1\n");
            }
        }
        return text.ToString();
    }

    /// <summary>Where an endpoint really is: the local endpoint mapped for its address (EgressGateway:Upstreams), else address:port.</summary>
    private string Address(ClusterRuntime cluster, HostRuntime endpoint)
    {
        if (!cluster.IsEgressGateway && _options.CurrentValue.Upstreams.TryGetValue(endpoint.Endpoint.Address, out var mapped))
        {
            var address = UpstreamClientFactory.ParseEndpoint(mapped);
            return address switch
            {
                System.Net.IPEndPoint ip => ip.ToString(),
                System.Net.DnsEndPoint dns => $"{dns.Host}:{dns.Port}",
                _ => address.ToString() ?? $"{endpoint.Endpoint.Address}:{endpoint.Endpoint.PortValue}",
            };
        }
        return $"{endpoint.Endpoint.Address}:{endpoint.Endpoint.PortValue}";
    }

    private static void Append(StringBuilder text, string host, string stat, long value) =>
        text.Append(CultureInfo.InvariantCulture, $"{host}::{stat}::{value}\n");

    public void Dispose() => _listener.Dispose();

    private sealed class HostCounters
    {
        public long Total;
        public long Success;
        public long Error;
        public long Timeout;
        public long ConnectFail;
    }

    private sealed class ConnectionCounters
    {
        public long Open;
        public long Closed;
    }
}
