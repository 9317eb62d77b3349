using System.Text;
using Demo.Bench;
using Demo.EgressGateway.Envoy;
using Demo.EgressGateway.Istio;

namespace Demo.EgressGateway.Tests;

/// <summary>
/// A large folder is read on every core and a large configuration analysed and translated on two: what comes out is
/// what one file at a time, one step at a time, gives — the files' order, each file's findings, the same translation
/// every time, no translation when the analyzer finds an error — and a file is read as <c>kubectl apply -f</c>'s
/// YAML reader and <c>File.ReadAllText</c> read it.
/// </summary>
public sealed class LargeFolderTests
{
    private const int Services = 40;

    [Fact]
    public void A_large_folder_gives_the_files_resources_and_findings_in_the_files_order_as_one_file_at_a_time_would()
    {
        using var folder = new TemporaryFolder();
        Assert.True(ScaleConfig.Write(folder.Path, Services) >= 64, "the folder must be large enough to be read on every core");
        foreach (var stem in new[] { "s0003", "s0017", "s0031" })
        {
            var path = Path.Combine(folder.Path, $"virtual-service-{stem}.yaml");
            File.WriteAllText(path, File.ReadAllText(path).Replace("weight: 50", "weight: -1", StringComparison.Ordinal));
        }

        var loaded = IstioConfigLoader.LoadDirectory(folder.Path);

        var oneAtATime = Directory.EnumerateFiles(folder.Path).Where(IstioConfigLoader.IsConfigFile).Order(StringComparer.Ordinal)
            .Select(file => IstioConfigLoader.Parse(file, File.ReadAllText(file))).ToList();
        Assert.Equal(oneAtATime.SelectMany(set => set.Resources).Select(r => r.Id), loaded.Resources.Select(r => r.Id));
        Assert.Equal(oneAtATime.SelectMany(set => set.Diagnostics), loaded.Diagnostics);
        Assert.Equal(3 * 2, loaded.Diagnostics.Count(d => d.Severity == DiagnosticSeverity.Error));
    }

    [Fact]
    public void A_large_configuration_translates_to_the_same_proxy_configurations_every_time()
    {
        using var folder = new TemporaryFolder();
        ScaleConfig.Write(folder.Path, Services);
        var config = IstioConfigLoader.LoadDirectory(folder.Path);
        Assert.False(config.HasErrors);

        var dumps = Enumerable.Range(0, 4).Select(_ => ConfigAnalysis.Run(config)).Select(analysis =>
        {
            Assert.Empty(analysis.Diagnostics);
            var xds = Assert.IsType<MeshXds>(analysis.Xds);
            return (Sidecar: ConfigDump.ToJson(xds.Sidecar, includeEds: true), Gateway: ConfigDump.ToJson(xds.Gateway, includeEds: true), xds);
        }).ToList();

        Assert.All(dumps, dump => Assert.Equal(dumps[0].Sidecar, dump.Sidecar));
        Assert.All(dumps, dump => Assert.Equal(dumps[0].Gateway, dump.Gateway));
        foreach (var service in new[] { ScaleConfig.Service(0), ScaleConfig.Service(Services - 1) })
        {
            Assert.Contains(dumps[0].xds.Gateway.Clusters, c => c.Name.EndsWith($"|{service.V1Host}", StringComparison.Ordinal));
            Assert.Contains(dumps[0].xds.Sidecar.Clusters, c => c.Name.EndsWith($"|{service.MeshHost}", StringComparison.Ordinal));
        }
    }

    // ConfigAnalysis starts a large configuration's translation while the analyzer runs; an analyzer error means no
    // translation at all (the gateway refuses such a revision), as when the translation started only after.
    [Fact]
    public void A_large_configuration_with_an_analyzer_error_is_not_translated()
    {
        using var folder = new TemporaryFolder();
        ScaleConfig.Write(folder.Path, Services);
        var path = Path.Combine(folder.Path, "virtual-service-s0005.yaml");
        File.WriteAllText(path, File.ReadAllText(path).Replace("networking.istio.io/v1\n", "networking.istio.io/v1beta2\n", StringComparison.Ordinal));
        var config = IstioConfigLoader.LoadDirectory(folder.Path);
        Assert.False(config.HasErrors);

        var analysis = ConfigAnalysis.Run(config);

        Assert.Null(analysis.Xds);
        var error = Assert.Single(analysis.Diagnostics);
        Assert.Equal((DiagnosticSeverity.Error, path, "apiVersion"), (error.Severity, error.File, error.Field));
    }

    // File.ReadAllText's reading, which the loader keeps: UTF-8 unless a byte order mark names UTF-8, UTF-16 or UTF-32.
    [Theory]
    [InlineData("utf-8")]
    [InlineData("utf-16")]
    [InlineData("utf-16BE")]
    [InlineData("utf-32")]
    public void A_file_with_a_byte_order_mark_reads_as_the_same_resources(string encodingName)
    {
        using var folder = new TemporaryFolder();
        var yaml = File.ReadAllText(Path.Combine(ConfigFolder.DeployIstio, MeshYaml.SidecarFile));
        var encoding = Encoding.GetEncoding(encodingName);
        var path = Path.Combine(folder.Path, "marked.yaml");
        File.WriteAllBytes(path, [.. encoding.GetPreamble(), .. encoding.GetBytes(yaml)]);

        var marked = IstioConfigLoader.LoadFile(path);

        Assert.Empty(marked.Diagnostics);
        var expected = IstioConfigLoader.Parse(path, yaml);
        Assert.Equal(expected.Resources.Select(r => r.Id), marked.Resources.Select(r => r.Id));
    }

    [Fact]
    public void A_file_over_1_MiB_is_refused_unread_naming_its_size()
    {
        using var folder = new TemporaryFolder();
        var path = Path.Combine(folder.Path, "large.yaml");
        File.WriteAllText(path, "# " + new string('x', 1024 * 1024) + "\n");

        var error = Assert.Single(IstioConfigLoader.LoadFile(path).Diagnostics);

        Assert.Equal((DiagnosticSeverity.Error, path), (error.Severity, error.File));
        Assert.Equal($"is {1024 * 1024 + 3} bytes; files over {1024 * 1024} bytes are refused", error.Message);
    }

    // Unreadable: a dangling link (IOException) and a path that is a folder (UnauthorizedAccessException on Linux): an
    // error naming the file, never an exception out of the loader (a hot reload would end the gateway).
    [Fact]
    public void A_file_that_cannot_be_read_is_an_error_naming_it()
    {
        using var folder = new TemporaryFolder();
        var dangling = Path.Combine(folder.Path, "dangling.yaml");
        File.CreateSymbolicLink(dangling, Path.Combine(folder.Path, "nowhere.yaml"));
        var notAFile = Directory.CreateDirectory(Path.Combine(folder.Path, "folder.yaml")).FullName;

        var error = Assert.Single(IstioConfigLoader.LoadDirectory(folder.Path).Diagnostics);
        Assert.Equal((DiagnosticSeverity.Error, dangling), (error.Severity, error.File));
        Assert.StartsWith("cannot be read: ", error.Message, StringComparison.Ordinal);

        error = Assert.Single(IstioConfigLoader.LoadFile(notAFile).Diagnostics);
        Assert.Equal((DiagnosticSeverity.Error, notAFile), (error.Severity, error.File));
        Assert.StartsWith("cannot be read: ", error.Message, StringComparison.Ordinal);
    }

    private sealed class TemporaryFolder : IDisposable
    {
        public string Path { get; } = Directory.CreateTempSubdirectory("large-folder-").FullName;

        public void Dispose() => Directory.Delete(Path, recursive: true);
    }
}
