using System.Globalization;
using System.Reflection;
using System.Text.RegularExpressions;
using Demo.EgressGateway.Istio;

namespace Demo.Conformance.Tests;

/// <summary>
/// Keeps the README's list of reproduced Istio/Envoy semantics ("What the local egress gateway reproduces", with its
/// "Istio version" and "Local stand-ins" parts; moved out of README.md into docs/local-gateway-fidelity.md and
/// docs/istio-versions.md, which the README links) tied to proof: every test it names (<c>Class.Method</c>) exists in
/// tests/, and every conformance test it names is a covered row of docs/conformance.md.
/// </summary>
public sealed partial class ReadmeClaimsTests
{
    private static string RepositoryRoot => Repository.Root;

    [GeneratedRegex(@"`(?<class>[A-Z][A-Za-z0-9]*Tests)\.(?<method>[A-Za-z0-9_]+)`")]
    private static partial Regex TestReference();

    /// <summary>The text of docs/<paramref name="name"/>, which the README links and which opens with <paramref name="title"/>.</summary>
    private static string Doc(string name, string title)
    {
        var readme = File.ReadAllText(Path.Combine(RepositoryRoot, "README.md"));
        Assert.True(readme.Contains($"](docs/{name})", StringComparison.Ordinal), $"README.md does not link docs/{name}");
        var path = Path.Combine(RepositoryRoot, "docs", name);
        Assert.True(File.Exists(path), $"docs/{name} is missing");
        var text = File.ReadAllText(path);
        Assert.True(text.StartsWith(title, StringComparison.Ordinal), $"docs/{name} does not open with '{title}'");
        return text;
    }

    /// <summary>
    /// The whole of what was the README's section "What the local egress gateway reproduces" (up to the next
    /// <c>## </c> heading, so with its "Istio version" and "Local stand-ins" subsections): docs/local-gateway-fidelity.md
    /// and docs/istio-versions.md, each read whole.
    /// </summary>
    private static string Section() =>
        Doc("local-gateway-fidelity.md", "# What the local egress gateway reproduces") + "\n" + IstioVersionDoc();

    private static string IstioVersionDoc() => Doc("istio-versions.md", "# Istio version");

    [Fact]
    public void Every_test_the_README_names_for_a_reproduced_behaviour_exists_and_conformance_ones_are_covered()
    {
        var references = TestReference().Matches(Section()).Select(m => (Class: m.Groups["class"].Value, Method: m.Groups["method"].Value)).Distinct().ToList();
        Assert.True(references.Count >= 20, $"only {references.Count} tests named");

        var sources = Directory.EnumerateFiles(Path.Combine(RepositoryRoot, "tests"), "*.cs", SearchOption.AllDirectories)
            .Where(f => !f.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}", StringComparison.Ordinal))
            .Select(f => (Path: f, Text: File.ReadAllText(f)))
            .ToList();
        var table = File.ReadAllText(Path.Combine(RepositoryRoot, "docs", "conformance.md")).Split('\n');
        var problems = new List<string>();
        foreach (var (type, method) in references)
        {
            var file = sources.FirstOrDefault(s => Regex.IsMatch(s.Text, $@"\bclass {type}\b") && Regex.IsMatch(s.Text, $@"\b(Task|void) {method}\("));
            if (file.Path is null)
            {
                problems.Add($"{type}.{method}: no such test under tests/");
                continue;
            }
            if (file.Path.Contains("Demo.Conformance.Tests", StringComparison.Ordinal)
                && !table.Any(row => row.Contains($"`{type}.{method}`", StringComparison.Ordinal) && row.Contains("| covered |", StringComparison.Ordinal)))
            {
                problems.Add($"{type}.{method}: not a covered row of docs/conformance.md");
            }
        }
        Assert.True(problems.Count == 0, string.Join('\n', problems));
    }

    /// <summary>
    /// Every version-dependent behaviour the gateway models (a bool property of <see cref="IstioVersion"/>) is a row of
    /// the "Istio version" table (once the README's, now docs/istio-versions.md), and each row's "from" is the version
    /// where that property changes — the same value before it throughout the supported range, the other one from it on.
    /// </summary>
    [Fact]
    public void Every_IstioVersion_behaviour_is_a_row_of_the_README_Istio_version_table_with_the_version_that_changed_it()
    {
        var doc = IstioVersionDoc();
        var end = doc.IndexOf("\n#", 3, StringComparison.Ordinal);
        var rows = doc[..(end < 0 ? doc.Length : end)].Split('\n')
            .Where(line => line.StartsWith("| 1.", StringComparison.Ordinal))
            .Select(line => line.Split('|', StringSplitOptions.TrimEntries))
            .ToList();
        var behaviours = typeof(IstioVersion).GetProperties(BindingFlags.Public | BindingFlags.Instance)
            .Where(p => p.PropertyType == typeof(bool))
            .ToList();
        Assert.NotEmpty(behaviours);

        var problems = new List<string>();
        foreach (var behaviour in behaviours)
        {
            var row = rows.FirstOrDefault(cells => cells.Length > 3 && cells[3] == $"`{behaviour.Name}`");
            if (row is null)
            {
                problems.Add($"IstioVersion.{behaviour.Name}: no row of the Istio version table (docs/istio-versions.md) names it");
                continue;
            }
            var from = IstioVersion.Parse(row[1]);
            bool At(int minor) => (bool)behaviour.GetValue(new IstioVersion(1, minor))!;
            var before = Enumerable.Range(IstioVersion.Oldest.Minor, from.Minor - IstioVersion.Oldest.Minor).Select(At).Distinct().ToList();
            var after = Enumerable.Range(from.Minor, IstioVersion.Newest.Minor - from.Minor + 1).Select(At).Distinct().ToList();
            if (before is not [var old] || after is not [var current] || old == current)
            {
                problems.Add($"IstioVersion.{behaviour.Name}: docs/istio-versions.md says it changes in {from.ToString()}, the property says " +
                    string.Join(", ", Enumerable.Range(IstioVersion.Oldest.Minor, IstioVersion.Newest.Minor - IstioVersion.Oldest.Minor + 1)
                        .Select(m => $"1.{m.ToString(CultureInfo.InvariantCulture)}={At(m)}")));
            }
        }
        foreach (var cells in rows.Where(cells => cells.Length <= 3 || !behaviours.Any(b => cells[3] == $"`{b.Name}`")))
        {
            problems.Add($"docs/istio-versions.md row '{string.Join(" | ", cells)}' names no IstioVersion property");
        }
        Assert.True(problems.Count == 0, string.Join('\n', problems));
    }

    // The section's counts (docs/local-gateway-fidelity.md) are the table's.
    [Fact]
    public void The_README_states_the_conformance_tables_counts()
    {
        var counts = CountsLine().Match(File.ReadAllText(Path.Combine(RepositoryRoot, "docs", "conformance.md")));
        Assert.True(counts.Success, "docs/conformance.md has no counts line");
        var section = Regex.Replace(Section(), @"\s+", " ");

        Assert.Contains($"({counts.Groups["covered"].Value} covered with the behaviour asserted, {counts.Groups["refused"].Value} refused at load", section, StringComparison.Ordinal);
        Assert.Contains($"{counts.Groups["na"].Value} not applicable to one local process, {counts.Groups["failing"].Value} failing)", section, StringComparison.Ordinal);
    }

    // Every claim of the section — each bullet, and each paragraph that opens with a bold topic — names the test that
    // proves it (Class.Method) or the Istio/Envoy source it follows; a bullet may take its source from the paragraph
    // that introduces its list.
    [Fact]
    public void Every_claim_about_Istio_or_Envoy_behaviour_names_a_test_or_a_source()
    {
        var paragraphs = new List<string>();
        var current = new List<string>();
        void Close()
        {
            if (current.Count > 0)
            {
                paragraphs.Add(string.Join(' ', current));
                current.Clear();
            }
        }
        var inCode = false;
        foreach (var line in Section().Split('\n').Skip(1))
        {
            if (line.StartsWith("```", StringComparison.Ordinal))
            {
                inCode = !inCode;
                Close();
            }
            else if (inCode || line.StartsWith('|') || line.StartsWith('#') || line.Trim().Length == 0)
            {
                Close();
            }
            else
            {
                if (line.StartsWith("- ", StringComparison.Ordinal) || line.StartsWith("**", StringComparison.Ordinal))
                {
                    Close();
                }
                current.Add(line.Trim());
            }
        }
        Close();

        var claims = 0;
        var unbacked = new List<string>();
        var lead = "";
        foreach (var paragraph in paragraphs)
        {
            var bullet = paragraph.StartsWith("- ", StringComparison.Ordinal);
            var backed = TestReference().IsMatch(paragraph) || Source().IsMatch(paragraph);
            // A topic line that only introduces its bullets ("**Routing** (…):") is not a claim of its own.
            var introduction = !bullet && paragraph.EndsWith(':');
            if (bullet || (paragraph.StartsWith("**", StringComparison.Ordinal) && !introduction))
            {
                claims++;
                if (!backed && !(bullet && Source().IsMatch(lead)))
                {
                    unbacked.Add(paragraph);
                }
            }
            if (!bullet)
            {
                lead = paragraph;
            }
        }

        Assert.True(claims >= 15, $"only {claims} claims found");
        Assert.True(unbacked.Count == 0, "claims with no test or source:\n" + string.Join('\n', unbacked));
    }

    [GeneratedRegex(@"covered \(behaviour asserted\) (?<covered>\d+) · refused at load \(the gateway refuses the YAML, naming the field\) (?<refused>\d+) · n/a (?<na>\d+) · failing (?<failing>\d+)")]
    private static partial Regex CountsLine();

    [GeneratedRegex(@"istio/istio|istio/proxy|envoy[ /`]|envoyproxy|istio\.io|[a-z_]+\.(go|cc|h)\b")]
    private static partial Regex Source();
}
