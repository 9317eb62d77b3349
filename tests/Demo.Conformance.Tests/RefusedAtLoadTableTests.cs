using System.Text;
using System.Text.RegularExpressions;
using Demo.EgressGateway.Istio;

namespace Demo.Conformance.Tests;

/// <summary>
/// Keeps docs/conformance.md, section "Refused at load", exact: every row is a field the loader refuses — a minimal
/// document per row, built from the row alone, is refused naming file, resource and field with the row's message —
/// and the table holds exactly the loader's list of refused fields (<see cref="RefusedFields"/>, the only way the
/// loader refuses a field Istio accepts), so a refusal cannot be added, dropped or reworded without the table.
/// </summary>
public sealed partial class RefusedAtLoadTableTests
{
    private const string File = "refused.yaml";
    private const string Name = "refused-row";

    [GeneratedRegex(@"^\| (any|ServiceEntry|Gateway|DestinationRule|VirtualService|Sidecar) \| `")]
    private static partial Regex RefusedRow();

    [GeneratedRegex("`([^`]+)`")]
    private static partial Regex CodeLiteral();

    /// <summary>Rows of the "Refused at load" table: kind, field, refused values, message, tests.</summary>
    private static List<string[]> TableRows() =>
        ConformanceDoc.Section("## Refused at load").Split('\n')
            .Where(line => RefusedRow().IsMatch(line))
            .Select(line => line.Trim().Trim('|').Split(" | ").Select(c => c.Trim()).ToArray())
            .ToList();

    /// <summary>The rows as theory data: kind, field, refused values and message, unquoted.</summary>
    public static TheoryData<string, string, string, string> Rows()
    {
        var data = new TheoryData<string, string, string, string>();
        foreach (var row in TableRows())
        {
            data.Add(row[0], row[1].Trim('`'), row[2], row[3].Trim('`'));
        }
        return data;
    }

    // The value a row's YAML gives the field: the first literal the row's "refused" cell quotes, else an empty object
    // (a field refused whatever its value is refused as soon as it is present).
    private static string Sample(string refused) =>
        CodeLiteral().Match(refused) is { Success: true } literal ? literal.Groups[1].Value : "{}";

    // The field's path as the loader reports it: list items are the first ([0]).
    private static string ReportedPath(string field) => field.Replace("[]", "[0]", StringComparison.Ordinal);

    // spec.http[].match[].headers.@request.auth.claims → spec, http[], match[], headers, @request.auth.claims.
    private static List<string> Segments(string path)
    {
        var at = path.IndexOf(".@", StringComparison.Ordinal);
        var segments = (at >= 0 ? path[..at] : path).Split('.').ToList();
        if (at >= 0)
        {
            segments.Add(path[(at + 1)..]);
        }
        return segments;
    }

    // A flow-style YAML value holding the field at the path's end: {"http": [{"redirect": {}}]}.
    private static string Nest(IReadOnlyList<string> segments, string value)
    {
        var yaml = value;
        for (var i = segments.Count - 1; i >= 0; i--)
        {
            var list = segments[i].EndsWith("[]", StringComparison.Ordinal);
            var key = list ? segments[i][..^2] : segments[i];
            yaml = list ? $"{{\"{key}\": [{yaml}]}}" : $"{{\"{key}\": {yaml}}}";
        }
        return yaml;
    }

    /// <summary>The minimal document for a row: the field at its path, in a resource of the row's kind.</summary>
    private static (string Yaml, string Resource) Document(string kind, string field, string refused)
    {
        var sample = Sample(refused);
        if (field == "apiVersion")
        {
            return ($"apiVersion: {sample}\nkind: AuthorizationPolicy\nmetadata:\n  name: {Name}\nspec: {{}}\n", $"AuthorizationPolicy '{Name}'");
        }
        if (field == "kind")
        {
            return ($"apiVersion: networking.istio.io/v1\nkind: {sample}\nmetadata:\n  name: {Name}\nspec: {{}}\n", $"{sample} '{Name}'");
        }
        var segments = Segments(field);
        Assert.Equal("spec", segments[0]);
        var spec = Nest(segments.Skip(1).ToList(), sample);
        return ($"apiVersion: networking.istio.io/v1\nkind: {kind}\nmetadata:\n  name: {Name}\nspec: {spec}\n", $"{kind} '{Name}'");
    }

    // Every row of the table, loaded alone: an error naming the file, the resource (kind and name) and the field's
    // path, with the row's message. The expected values are the documentation's, not the loader's own list.
    [Theory]
    [MemberData(nameof(Rows))]
    public void EachRowIsRefusedAtLoadNamingFileResourceAndField(string kind, string field, string refused, string message)
    {
        var (yaml, resource) = Document(kind, field, refused);

        var result = IstioConfigLoader.Parse(File, yaml);

        var errors = result.Diagnostics.Where(d => d.Severity == DiagnosticSeverity.Error).ToList();
        var expected = new ConfigDiagnostic(DiagnosticSeverity.Error, File, resource, ReportedPath(field),
            message.Replace("<value>", Sample(refused), StringComparison.Ordinal));
        Assert.True(errors.Any(e => e with { Line = null } == expected),
            $"expected\n  {expected}\nfor\n{yaml}\ngot\n  {string.Join("\n  ", errors)}");
        Assert.True(result.HasErrors);
    }

    // The table lists exactly the loader's refusals, in its order, with its messages; on a difference the message
    // prints the rows the table should hold.
    [Fact]
    public void TheTableListsExactlyTheFieldsTheLoaderRefuses()
    {
        var documented = TableRows().Select(r => (r[0], r[1].Trim('`'), r[2], r[3].Trim('`'))).ToList();
        var refused = RefusedFields.All.Select(f => (f.Kind, f.Field, f.Refused, f.Message)).ToList();

        var expectedRows = new StringBuilder();
        foreach (var (kind, field, values, message) in refused)
        {
            var tests = documented.Any(d => d.Item1 == kind && d.Item2 == field)
                ? TableRows().First(r => r[0] == kind && r[1].Trim('`') == field)[4]
                : "`RefusedAtLoadTableTests.EachRowIsRefusedAtLoadNamingFileResourceAndField`";
            expectedRows.Append("| ").Append(kind).Append(" | `").Append(field).Append("` | ").Append(values)
                .Append(" | `").Append(message).Append("` | ").Append(tests).Append(" |\n");
        }
        Assert.True(documented.SequenceEqual(refused), "docs/conformance.md 'Refused at load' should hold:\n" + expectedRows);
        Assert.Equal(refused.Count, refused.Select(r => (r.Kind, r.Field, r.Refused)).Distinct().Count());
    }

    // listener.go BuildListenerTLSContext applies minProtocolVersion, maxProtocolVersion and cipherSuites
    // (applyServerTLSSettings) only when isSimpleOrMutual(mode), and takes the SPKI/hash pins only from a MUTUAL or
    // OPTIONAL_MUTUAL server's credential (security/model/authentication.go ApplyCredentialSDSToServerCommonTLSContext):
    // for an ISTIO_MUTUAL server istiod writes none of them, so the loader accepts them there.
    [Fact]
    public void HandshakeSettingsOfAnIstioMutualServerAreAcceptedAsIstiodWritesNothingForThem()
    {
        var result = IstioConfigLoader.Parse(File, $"""
            apiVersion: networking.istio.io/v1
            kind: Gateway
            metadata:
              name: istio-mutual-with-handshake-settings
            spec:
              selector:
                istio: egressgateway
              servers:
                - port:
                    number: 443
                    name: https
                    protocol: HTTPS
                  hosts:
                    - b.external
                  tls:
                    mode: ISTIO_MUTUAL
                    minProtocolVersion: TLSV1_2
                    maxProtocolVersion: TLSV1_3
                    cipherSuites: [ECDHE-RSA-AES256-GCM-SHA384]
                    verifyCertificateSpki: [abc]
                    verifyCertificateHash: [def]
            """);

        Assert.Empty(result.Diagnostics);
        Assert.Single(result.Resources);
    }
}
