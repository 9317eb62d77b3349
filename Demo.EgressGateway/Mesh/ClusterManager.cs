using System.Collections.Concurrent;
using System.IO.Hashing;
using Demo.EgressGateway.Envoy;

namespace Demo.EgressGateway.Mesh;

/// <summary>
/// Envoy's cluster manager (<c>source/common/upstream/cluster_manager_impl.cc</c>) as far as state goes, for both proxies
/// (keys <c>sidecar/&lt;cluster&gt;</c> and <c>gateway/&lt;cluster&gt;</c>: each proxy has its own): per cluster, its outlier detector's group, each host's health (keyed by cluster and endpoint <c>host:port</c>) and its
/// connection pool's circuit breakers. A configuration reload keeps a cluster whose definition is unchanged with its
/// hosts' health, and starts a changed one afresh, as Envoy's <c>addOrUpdateCluster</c> keeps a cluster whose proto hash
/// is the same and replaces one whose hash changed (new hosts, new outlier detector, new pools).
/// </summary>
public sealed class ClusterManager(TimeProvider time)
{
    private readonly ConcurrentDictionary<string, ConcurrentDictionary<string, HostHealth>> _hosts = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, OutlierGroup> _groups = new();
    private readonly ConcurrentDictionary<string, (string Key, ConnectionPoolGate Gate)> _pools = new();

    // Per cluster the hash of its definition, as Envoy keeps a cluster's proto hash rather than the proto.
    private readonly ConcurrentDictionary<string, UInt128> _definitions = new(StringComparer.Ordinal);

    /// <summary>
    /// Records <paramref name="cluster"/>'s definition (its <c>/config_dump</c> JSON, <see cref="ConfigDump.WriteClusterJson"/>);
    /// when it differs from the one recorded before, the cluster's outlier group, hosts' health and pool start afresh.
    /// Called for every cluster of a revision before its hosts are looked up; revisions are built one at a time.
    /// </summary>
    public void Update(string cluster, ReadOnlySpan<byte> definition)
    {
        var hash = XxHash128.HashToUInt128(definition);
        if (_definitions.TryGetValue(cluster, out var previous) && previous != hash)
        {
            _groups.TryRemove(cluster, out _);
            _pools.TryRemove(cluster, out _);
            _hosts.TryRemove(cluster, out _);
        }
        _definitions[cluster] = hash;
    }

    /// <summary>The clock ejections and un-ejections are timed on.</summary>
    public TimeProvider Time => time;

    /// <summary>The outlier detector's state for <paramref name="cluster"/> (a proxy and an Envoy cluster name, e.g. <c>gateway/outbound|443||host</c>).</summary>
    public OutlierGroup Group(string cluster) => _groups.GetOrAdd(cluster, _ => new OutlierGroup(time));

    /// <summary>One host's health in <paramref name="cluster"/>; <paramref name="endpoint"/> is its <c>host:port</c>.</summary>
    public HostHealth Host(string cluster, string endpoint) =>
        _hosts.GetOrAdd(cluster, _ => new(StringComparer.Ordinal)).GetOrAdd(endpoint, _ => new HostHealth(Group(cluster)));

    /// <summary>The connection pool's gate for <paramref name="cluster"/> under <paramref name="breakers"/>; a new one when they changed.</summary>
    public ConnectionPoolGate Pool(string cluster, Thresholds breakers)
    {
        var key = breakers.ToString();
        return _pools.AddOrUpdate(cluster,
            _ => (key, new ConnectionPoolGate(breakers)),
            (_, existing) => existing.Key == key ? existing : (key, new ConnectionPoolGate(breakers))).Gate;
    }
}
