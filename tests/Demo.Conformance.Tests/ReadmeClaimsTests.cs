using System.Text.RegularExpressions;

namespace Demo.Conformance.Tests;

/// <summary>
/// Keeps the README's list of reproduced Istio/Envoy semantics ("What the local egress gateway reproduces") tied to
/// proof: every test it names (<c>Class.Method</c>) exists in tests/, and every conformance test it names is a
/// covered row of docs/conformance.md.
/// </summary>
public sealed partial class ReadmeClaimsTests
{
    private static string RepositoryRoot => Repository.Root;

    [GeneratedRegex(@"`(?<class>[A-Z][A-Za-z0-9]*Tests)\.(?<method>[A-Za-z0-9_]+)`")]
    private static partial Regex TestReference();

    private static string Section()
    {
        var readme = File.ReadAllText(Path.Combine(RepositoryRoot, "README.md"));
        var start = readme.IndexOf("## What the local egress gateway reproduces", StringComparison.Ordinal);
        Assert.True(start >= 0, "README.md has no section 'What the local egress gateway reproduces'");
        var end = readme.IndexOf("\n## ", start + 3, StringComparison.Ordinal);
        return end < 0 ? readme[start..] : readme[start..end];
    }

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
}
