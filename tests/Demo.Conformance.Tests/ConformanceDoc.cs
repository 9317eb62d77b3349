namespace Demo.Conformance.Tests;

/// <summary>docs/conformance.md, read by the checks that keep it exact.</summary>
public static class ConformanceDoc
{
    /// <summary>The section that starts with the heading <paramref name="heading"/> (e.g. <c>## Refused at load</c>), up to the next <c>## </c> heading.</summary>
    public static string Section(string heading)
    {
        var text = File.ReadAllText(Path.Combine(Repository.Root, "docs", "conformance.md"));
        var start = text.IndexOf("\n" + heading + "\n", StringComparison.Ordinal);
        Assert.True(start >= 0, $"docs/conformance.md has no section '{heading}'");
        var end = text.IndexOf("\n## ", start + heading.Length + 1, StringComparison.Ordinal);
        return end < 0 ? text[start..] : text[start..end];
    }
}
