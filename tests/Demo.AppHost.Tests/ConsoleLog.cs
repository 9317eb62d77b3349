using System.Globalization;
using System.Text.RegularExpressions;

namespace Demo.AppHost.Tests;

/// <summary>One line of a resource's console as Aspire captured it, without what Aspire adds.</summary>
/// <param name="CapturedAt">When Aspire captured the line (its own timestamp prefix), if it had one.</param>
public sealed record ConsoleLine(int Number, DateTimeOffset? CapturedAt, string Text, bool IsError);

public static partial class ConsoleLog
{
    /// <summary>
    /// Aspire stores each captured line as <c>&lt;UTC timestamp, 7 fractional digits&gt;Z &lt;content&gt;</c>; the
    /// console logger's colours come through as ANSI escapes. Both are removed; the process's own text stays intact.
    /// </summary>
    public static IReadOnlyList<ConsoleLine> Parse(IEnumerable<LogLine> lines) => lines.Select(line =>
    {
        var content = line.Content;
        DateTimeOffset? capturedAt = null;
        var prefix = AspirePrefix().Match(content);
        if (prefix.Success)
        {
            capturedAt = DateTimeOffset.Parse(prefix.Groups["at"].Value, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal);
            content = content[prefix.Length..];
        }
        return new ConsoleLine(line.LineNumber, capturedAt, AnsiEscape().Replace(content, ""), line.IsErrorMessage);
    }).ToList();

    /// <summary>A header line of Microsoft.Extensions.Logging's console formatter, e.g. <c>info: Category[1]</c>.</summary>
    public static bool IsLoggerHeader(string text) => LoggerHeader().IsMatch(text);

    /// <summary>The message lines under a logger header are indented by six spaces.</summary>
    public static bool IsLoggerMessage(string text) => text.StartsWith("      ", StringComparison.Ordinal);

    /// <summary>DCP's own notes about the process, e.g. <c>[sys] Starting process...</c>.</summary>
    public static bool IsDcpNote(string text) => text.StartsWith("[sys] ", StringComparison.Ordinal);

    [GeneratedRegex(@"^(?<at>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{7}Z) ")]
    private static partial Regex AspirePrefix();

    [GeneratedRegex(@"\x1B\[[0-9;]*m")]
    private static partial Regex AnsiEscape();

    [GeneratedRegex(@"^(trce|dbug|info|warn|fail|crit): \S")]
    private static partial Regex LoggerHeader();
}
