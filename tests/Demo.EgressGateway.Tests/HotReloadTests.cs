using System.Diagnostics;
using Demo.EgressGateway.Istio;
using Demo.EgressGateway.Mesh;

namespace Demo.EgressGateway.Tests;

/// <summary>Editing deploy/istio changes behaviour without a restart, like kubectl apply; a bad edit keeps the last good config.</summary>
public sealed class HotReloadTests
{
    private static void OnlyV1(ConfigFolder folder)
    {
        folder.Write(MeshYaml.SidecarFile, MeshYaml.Sidecar(100, 0));
        folder.Write(MeshYaml.EgressFile, MeshYaml.Egress());
    }

    private static async Task<(MeshSnapshot Config, IReadOnlyList<ConfigDiagnostic> Diagnostics, TimeSpan Elapsed)> EditAndWaitAsync(
        GatewayHost gateway, Action edit)
    {
        var reloaded = new TaskCompletionSource<(MeshSnapshot, IReadOnlyList<ConfigDiagnostic>)>(TaskCreationOptions.RunContinuationsAsynchronously);
        void OnReload(MeshSnapshot config, IReadOnlyList<ConfigDiagnostic> diagnostics) => reloaded.TrySetResult((config, diagnostics));
        gateway.Config.Reloaded += OnReload;
        try
        {
            var stopwatch = Stopwatch.StartNew();
            edit();
            var (config, diagnostics) = await reloaded.Task.WaitAsync(TimeSpan.FromSeconds(10));
            return (config, diagnostics, stopwatch.Elapsed);
        }
        finally
        {
            gateway.Config.Reloaded -= OnReload;
        }
    }

    [Fact]
    public async Task A_weight_change_takes_effect_within_a_second_without_a_restart()
    {
        await using var gateway = await GatewayHost.StartAsync(OnlyV1);
        Assert.Equal((200, "Hello K8s, from CF v1 service!"), await gateway.GetAsync());
        var revision = gateway.Config.Current.Revision;

        var (config, _, elapsed) = await EditAndWaitAsync(gateway,
            () => ConfigFolder.WriteWhole(Path.Combine(gateway.ConfigDirectory, MeshYaml.SidecarFile), MeshYaml.Sidecar(0, 100)));

        Assert.Equal(revision + 1, config.Revision);
        Assert.True(elapsed < TimeSpan.FromSeconds(1), $"reload took {elapsed}");
        for (var i = 0; i < 20; i++)
        {
            Assert.Equal((200, "Hello K8s, from CF v2 service!"), await gateway.GetAsync());
        }
    }

    [Fact]
    public async Task An_invalid_edit_is_rejected_with_file_and_field_and_the_old_config_keeps_serving()
    {
        await using var gateway = await GatewayHost.StartAsync(OnlyV1);
        var revision = gateway.Config.Current.Revision;

        var (config, diagnostics, _) = await EditAndWaitAsync(gateway,
            () => ConfigFolder.WriteWhole(Path.Combine(gateway.ConfigDirectory, MeshYaml.SidecarFile), MeshYaml.Sidecar(0, 0)));

        // pkg/config/validation validateWeights: a route whose weights are all 0 is refused ("total destination weight = 0").
        Assert.Equal(revision, config.Revision);
        var error = Assert.Single(diagnostics, d => d.Severity == DiagnosticSeverity.Error);
        Assert.EndsWith(MeshYaml.SidecarFile, error.File, StringComparison.Ordinal);
        Assert.Equal("VirtualService 'hello'", error.Resource);
        Assert.Equal("spec.http[0].route", error.Field);
        Assert.Contains("total destination weight = 0", error.Message, StringComparison.Ordinal);
        Assert.Contains(gateway.Logs.Messages(LogLevel.Error), m => m.Contains("Rejected an Istio configuration change", StringComparison.Ordinal)
            && m.Contains("total destination weight = 0", StringComparison.Ordinal));
        for (var i = 0; i < 20; i++)
        {
            Assert.Equal((200, "Hello K8s, from CF v1 service!"), await gateway.GetAsync());
        }
    }

    [Fact]
    public async Task An_edit_to_an_api_version_the_declared_Istio_does_not_serve_is_rejected_and_the_old_config_keeps_serving()
    {
        await using var gateway = await GatewayHost.StartAsync(OnlyV1);
        var revision = gateway.Config.Current.Revision;

        var (config, diagnostics, _) = await EditAndWaitAsync(gateway, () => ConfigFolder.WriteWhole(Path.Combine(gateway.ConfigDirectory, MeshYaml.SidecarFile),
            MeshYaml.Sidecar(0, 100).Replace("apiVersion: networking.istio.io/v1\n", "apiVersion: networking.istio.io/v1beta2\n", StringComparison.Ordinal)));

        Assert.Equal(revision, config.Revision);
        var error = Assert.Single(diagnostics, d => d.Severity == DiagnosticSeverity.Error);
        Assert.Equal(("VirtualService 'hello'", "apiVersion"), (error.Resource, error.Field));
        Assert.Equal("'networking.istio.io/v1beta2' is not served by Istio 1.30 (it serves networking.istio.io/v1, v1beta1, v1alpha3)", error.Message);
        Assert.Equal(error, Assert.Single(gateway.Config.LastRejection, d => d.Severity == DiagnosticSeverity.Error));
        for (var i = 0; i < 20; i++)
        {
            Assert.Equal((200, "Hello K8s, from CF v1 service!"), await gateway.GetAsync());
        }
    }

    [Fact]
    public async Task A_broken_YAML_file_is_rejected_and_fixing_it_applies_the_fix()
    {
        await using var gateway = await GatewayHost.StartAsync(OnlyV1);
        var path = Path.Combine(gateway.ConfigDirectory, MeshYaml.SidecarFile);

        var (_, broken, _) = await EditAndWaitAsync(gateway, () => ConfigFolder.WriteWhole(path, "spec: [unclosed"));
        Assert.Contains(broken, d => d.Severity == DiagnosticSeverity.Error && d.Message.Contains("not valid YAML", StringComparison.Ordinal));
        Assert.Equal((200, "Hello K8s, from CF v1 service!"), await gateway.GetAsync());

        var (fixedConfig, _, _) = await EditAndWaitAsync(gateway, () => ConfigFolder.WriteWhole(path, MeshYaml.Sidecar(0, 100)));
        Assert.Equal(2, fixedConfig.Revision);
        Assert.Equal((200, "Hello K8s, from CF v2 service!"), await gateway.GetAsync());
    }
}
