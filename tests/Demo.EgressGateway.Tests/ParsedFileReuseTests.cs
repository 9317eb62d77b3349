using Demo.EgressGateway.Istio;

namespace Demo.EgressGateway.Tests;

/// <summary>
/// A hot reload re-reads the whole folder; a file whose text has not changed gives the same parse (records and
/// diagnostics are immutable), a changed one is parsed again — by its text, not its timestamp, so an edit within the
/// same clock tick is never missed.
/// </summary>
public sealed class ParsedFileReuseTests
{
    [Fact]
    public void An_unchanged_file_reuses_its_parse_and_a_changed_one_is_parsed_again()
    {
        var folder = ConfigFolder.CopyOfDeployIstio();
        try
        {
            var path = folder.File("virtual-service-hello.yaml");
            var first = IstioConfigLoader.LoadFile(path);
            Assert.Same(first, IstioConfigLoader.LoadFile(path));

            var mtime = File.GetLastWriteTimeUtc(path);
            folder.Replace("virtual-service-hello.yaml", "weight: 50", "weight: -1");
            File.SetLastWriteTimeUtc(path, mtime);
            var edited = IstioConfigLoader.LoadFile(path);

            Assert.NotSame(first, edited);
            Assert.Empty(first.Diagnostics);
            Assert.Contains(edited.Diagnostics, d => d.Severity == DiagnosticSeverity.Error && d.Message.Contains("weight -1 < 0", StringComparison.Ordinal));
        }
        finally
        {
            Directory.Delete(folder.Path, recursive: true);
        }
    }
}
