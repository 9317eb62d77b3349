using System.Collections.Concurrent;
using Demo.EgressGateway.Envoy;

namespace Demo.EgressGateway.Mesh;

/// <summary>
/// Envoy's cluster manager (<c>source/common/upstream/cluster_manager_impl.cc</c>) as far as state goes: per cluster
/// name, its outlier detector's group, each host's health (keyed by cluster and endpoint <c>host:port</c>) and its
/// connection pool's circuit breakers. It outlives a configuration reload, as Envoy keeps a cluster's hosts and their
/// health across a CDS update that leaves the cluster in place; a pool whose <see cref="CircuitBreakers"/> changed is
/// replaced.
/// </summary>
public sealed class ClusterManager(TimeProvider time)
{
    private readonly ConcurrentDictionary<string, HostHealth> _hosts = new();
    private readonly ConcurrentDictionary<string, OutlierGroup> _groups = new();
    private readonly ConcurrentDictionary<string, (string Key, ConnectionPoolGate Gate)> _pools = new();

    /// <summary>The clock ejections and un-ejections are timed on.</summary>
    public TimeProvider Time => time;

    /// <summary>The outlier detector's state for <paramref name="cluster"/> (Envoy's cluster name, e.g. <c>outbound|443||host</c>).</summary>
    public OutlierGroup Group(string cluster) => _groups.GetOrAdd(cluster, _ => new OutlierGroup(time));

    /// <summary>One host's health in <paramref name="cluster"/>; <paramref name="endpoint"/> is its <c>host:port</c>.</summary>
    public HostHealth Host(string cluster, string endpoint) =>
        _hosts.GetOrAdd($"{cluster}#{endpoint}", _ => new HostHealth(Group(cluster)));

    /// <summary>The connection pool's gate for <paramref name="cluster"/> under <paramref name="breakers"/>; a new one when they changed.</summary>
    public ConnectionPoolGate Pool(string cluster, CircuitBreakers breakers)
    {
        var key = breakers.ToString();
        return _pools.AddOrUpdate(cluster,
            _ => (key, new ConnectionPoolGate(breakers)),
            (_, existing) => existing.Key == key ? existing : (key, new ConnectionPoolGate(breakers))).Gate;
    }
}
