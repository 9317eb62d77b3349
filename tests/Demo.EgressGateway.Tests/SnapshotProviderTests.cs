using Demo.EgressGateway.Istio;
using Demo.EgressGateway.Mesh;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace Demo.EgressGateway.Tests;

/// <summary>The configuration provider reads its folder when the host starts, not when it is constructed.</summary>
public sealed class SnapshotProviderTests
{
    [Fact]
    public void Constructing_the_provider_reads_nothing_and_loading_a_missing_folder_names_it()
    {
        var missing = Path.Combine(Path.GetTempPath(), "demo-no-such-folder-" + Guid.NewGuid().ToString("N"));
        using var provider = Provider(missing);

        var before = Assert.Throws<InvalidOperationException>(() => provider.Current);
        Assert.Contains("Load", before.Message, StringComparison.Ordinal);
        var error = Assert.ThrowsAny<Exception>(provider.Load);
        Assert.Contains(missing, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Starting_the_host_loads_revision_1_once()
    {
        using var provider = Provider(ConfigFolder.DeployIstio);

        await provider.StartingAsync(TestContext.Current.CancellationToken);
        var first = provider.Current;
        provider.Load();

        Assert.Equal(1, first.Revision);
        Assert.Same(first, provider.Current);
        Assert.NotEmpty(first.Source.OfKind<VirtualService>());
    }

    private static MeshSnapshotProvider Provider(string folder) =>
        new(Options.Create(new EgressGatewayOptions { ConfigDirectory = folder, WatchConfiguration = false }),
            new ClusterManager(TimeProvider.System), NullLogger<MeshSnapshotProvider>.Instance);
}
