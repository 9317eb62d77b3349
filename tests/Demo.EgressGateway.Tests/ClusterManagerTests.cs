using Demo.EgressGateway.Istio;
using Demo.EgressGateway.Mesh;

namespace Demo.EgressGateway.Tests;

/// <summary>
/// Host health across revisions, as Envoy's cluster manager keeps it (<c>cluster_manager_impl.cc</c>
/// <c>addOrUpdateCluster</c>: a cluster whose definition hash is unchanged is kept with its hosts; a changed one is
/// replaced), and per proxy (the sidecar and the egress gateway are two Envoys).
/// </summary>
public sealed class ClusterManagerTests
{
    [Fact]
    public void A_cluster_keeps_its_hosts_health_while_its_definition_is_unchanged_and_starts_afresh_when_it_changes()
    {
        var manager = new ClusterManager(TimeProvider.System);
        manager.Update("gateway/outbound|443||a.example.com", "definition 1"u8);
        var health = manager.Host("gateway/outbound|443||a.example.com", "10.0.0.1:443");

        manager.Update("gateway/outbound|443||a.example.com", "definition 1"u8);
        Assert.Same(health, manager.Host("gateway/outbound|443||a.example.com", "10.0.0.1:443"));

        manager.Update("gateway/outbound|443||a.example.com", "definition 2"u8);
        Assert.NotSame(health, manager.Host("gateway/outbound|443||a.example.com", "10.0.0.1:443"));
    }

    [Fact]
    public void Recompiling_the_same_configuration_keeps_every_hosts_health_and_the_two_proxies_share_none()
    {
        var options = new EgressGatewayOptions { ConfigDirectory = ConfigFolder.DeployIstio };
        var compiler = new MeshSnapshotCompiler(new ClusterManager(TimeProvider.System), options);
        var config = IstioConfigLoader.LoadDirectory(ConfigFolder.DeployIstio, []);

        var first = compiler.Compile(config, 1);
        var second = compiler.Compile(config, 2);

        static IEnumerable<(string Key, HostHealth Health)> Hosts(ProxyRuntime proxy, string role) =>
            proxy.Clusters.SelectMany(c => c.Hosts.Select(h => ($"{role}/{c.Config.Name}/{h.Endpoint.Address}:{h.Endpoint.PortValue}", h.Health)));
        var before = Hosts(first.Sidecar, "sidecar").Concat(Hosts(first.Gateway, "gateway")).ToList();
        var after = Hosts(second.Sidecar, "sidecar").Concat(Hosts(second.Gateway, "gateway")).ToDictionary(h => h.Key, h => h.Health);
        Assert.NotEmpty(before);
        Assert.All(before, h => Assert.Same(h.Health, after[h.Key]));
        Assert.Equal(before.Count, before.Select(h => h.Health).Distinct().Count());
    }
}
