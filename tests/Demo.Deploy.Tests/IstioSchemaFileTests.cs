using Demo.IstioSchema;

namespace Demo.Deploy.Tests;

/// <summary>
/// The egress gateway embeds a compact copy of Istio's CRD schemas (Demo.EgressGateway/Istio/Schema), so a clone
/// needs no shared/ folder to run it; here, where Istio's CRDs are at hand, that copy must be exactly what
/// tools/Demo.IstioSchema makes of them.
/// </summary>
public sealed class IstioSchemaFileTests
{
    [Fact]
    public void The_checked_in_schema_is_the_generator_s_output_for_Istio_1_30_3s_CRDs()
    {
        var expected = CrdSchemaCompactor.Compact(File.ReadAllText(Repository.IstioCrds), CrdSchemaCompactor.IstioRelease);
        var checkedIn = File.ReadAllText(Path.Combine(Repository.Root, CrdSchemaCompactor.SchemaFile));

        Assert.True(expected == checkedIn,
            $"{CrdSchemaCompactor.SchemaFile} differs from the CRDs' compaction: run `dotnet run --project tools/Demo.IstioSchema`");
        Assert.DoesNotContain("\"description\"", checkedIn, StringComparison.Ordinal);
    }
}
