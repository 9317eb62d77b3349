using System.Reflection;
using System.Text.RegularExpressions;

namespace Demo.Conformance.Tests;

/// <summary>
/// Keeps docs/egress-tasks.md honest: one table of istio.io's egress-task steps (task, step, status, test, why), whose
/// counts line is the count of its rows; a covered row names the tests that assert the step, each of which exists; an
/// n/a or missing row names none and says why; every test of <see cref="EgressTaskStepTests"/> is named on a covered row.
/// </summary>
/// <remarks>
/// The checks are static: docs/conformance.md's census of conformance tests (ConformanceTableTests, the public instance
/// test methods of this assembly) counts behaviour tests and leaves out the checks of its own table, so it leaves out
/// these checks of this table too.
/// </remarks>
public static partial class EgressTaskTableTests
{
    private static readonly string[] Statuses = ["covered", "n/a", "missing"];

    private const string Header = "| task | step | status | test | why |";

    private static string Document => File.ReadAllText(Path.Combine(Repository.Root, "docs", "egress-tasks.md"));

    /// <summary>The table's rows (after the header and its separator), split into cells.</summary>
    private static List<string[]> Rows()
    {
        var lines = Document.Split('\n').Select(l => l.TrimEnd('\r')).ToList();
        var header = lines.IndexOf(Header);
        Assert.True(header >= 0, $"docs/egress-tasks.md has no table headed '{Header}'");
        Assert.Equal("|---|---|---|---|---|", lines[header + 1]);
        return [.. lines.Skip(header + 2).TakeWhile(l => l.StartsWith('|')).Select(SplitCells)];
    }

    private static string[] SplitCells(string line) =>
        [.. CellSeparator().Split(line.Trim().Trim('|')).Select(c => c.Trim().Replace("\\|", "|", StringComparison.Ordinal))];

    [GeneratedRegex(@"(?<!\\)\|")]
    private static partial Regex CellSeparator();

    [GeneratedRegex(@"`(\w+Tests)\.(\w+)`")]
    private static partial Regex TestReference();

    // A test cell: one or more `Class.Method`, comma-separated, and nothing else.
    [GeneratedRegex(@"^`\w+Tests\.\w+`(, `\w+Tests\.\w+`)*$")]
    private static partial Regex TestList();

    [GeneratedRegex(@"^\*\*Steps: (?<covered>\d+) covered · (?<na>\d+) n/a · (?<missing>\d+) missing — (?<total>\d+) steps\.\*\*$", RegexOptions.Multiline)]
    private static partial Regex CountsLine();

    [GeneratedRegex(@"^[a-z][a-z-]*[a-z]$")]
    private static partial Regex TaskName();

    [Fact]
    public static void RowsAreWellFormed()
    {
        var rows = Rows();
        Assert.NotEmpty(rows);
        foreach (var row in rows)
        {
            var name = string.Join(" | ", row);
            Assert.True(row.Length == 5, $"not five cells: {name}");
            var (task, step, status, tests, why) = (row[0], row[1], row[2], row[3], row[4]);
            Assert.True(TaskName().IsMatch(task), $"task '{task}' is not an istio.io egress task folder name: {name}");
            Assert.False(string.IsNullOrWhiteSpace(step), $"no step: {name}");
            Assert.Contains(status, Statuses);
            if (status == "covered")
            {
                Assert.True(TestList().IsMatch(tests), $"covered but the test cell is not a list of `Class.Method`: {name}");
            }
            else
            {
                Assert.True(tests.Length == 0, $"{status} but names a test: {name}");
                Assert.False(string.IsNullOrWhiteSpace(why), $"{status} without why: {name}");
                Assert.False(TestReference().IsMatch(why), $"{status} but its why names a test: {name}");
            }
        }
    }

    [Fact]
    public static void TheCountsLineIsTheCountOfTheRows()
    {
        var rows = Rows();
        var counts = CountsLine().Matches(Document);
        Assert.True(counts.Count == 1, "docs/egress-tasks.md needs exactly one line '**Steps: N covered · M n/a · K missing — T steps.**'");
        int Count(string status) => rows.Count(r => r.Length > 2 && r[2] == status);

        Assert.Equal(
            $"**Steps: {Count("covered")} covered · {Count("n/a")} n/a · {Count("missing")} missing — {rows.Count} steps.**",
            counts[0].Value);
    }

    [Fact]
    public static void EveryNamedTestExists()
    {
        var named = TestReference().Matches(Document).Select(m => (Class: m.Groups[1].Value, Method: m.Groups[2].Value)).Distinct().ToList();
        Assert.NotEmpty(named);
        var here = typeof(EgressTaskTableTests).Assembly.GetTypes()
            .SelectMany(t => t.GetMethods(BindingFlags.Public | BindingFlags.Instance | BindingFlags.Static | BindingFlags.DeclaredOnly)
                .Where(m => m.GetCustomAttributes<FactAttribute>().Any())
                .Select(m => (Class: t.Name, Method: m.Name)))
            .ToHashSet();
        var sources = Directory.EnumerateFiles(Path.Combine(Repository.Root, "tests"), "*.cs", SearchOption.AllDirectories)
            .Where(f => !f.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}", StringComparison.Ordinal)
                && !f.Contains($"{Path.DirectorySeparatorChar}bin{Path.DirectorySeparatorChar}", StringComparison.Ordinal))
            .Select(File.ReadAllText)
            .ToList();

        // A test of this assembly by reflection (a [Fact] or [Theory] method of that class); one of another test
        // project by its source: a file declaring the class and the method.
        var absent = named
            .Where(t => !here.Contains(t) && !sources.Any(s =>
                Regex.IsMatch(s, $@"\bclass {t.Class}\b") && Regex.IsMatch(s, $@"\b(Task|void) {t.Method}\(")))
            .Select(t => $"{t.Class}.{t.Method}")
            .ToList();

        Assert.True(absent.Count == 0, "docs/egress-tasks.md names tests that do not exist:\n" + string.Join('\n', absent));
    }

    [Fact]
    public static void EveryEgressTaskStepTestIsNamedOnACoveredRow()
    {
        var covered = Rows().Where(r => r.Length == 5 && r[2] == "covered").Select(r => r[3]).ToList();
        var unnamed = typeof(EgressTaskStepTests).GetMethods(BindingFlags.Public | BindingFlags.Instance | BindingFlags.DeclaredOnly)
            .Where(m => m.GetCustomAttributes<FactAttribute>().Any())
            .Select(m => $"`{nameof(EgressTaskStepTests)}.{m.Name}`")
            .Where(reference => !covered.Any(cell => cell.Contains(reference, StringComparison.Ordinal)))
            .ToList();

        Assert.True(unnamed.Count == 0, "tests of EgressTaskStepTests on no covered row of docs/egress-tasks.md:\n" + string.Join('\n', unnamed));
    }
}
