using System.Globalization;
using System.Text.RegularExpressions;

namespace Demo.AppHost.Tests;

public enum Outcome
{
    V1,
    V2,
    Fault,
    Failure,
}

/// <summary>A line the caller printed: <c>&lt;tick timestamp&gt;\t&lt;body&gt;</c>.</summary>
public sealed record CallerLine(int Number, string Timestamp, DateTimeOffset Tick, string Body, DateTimeOffset? CapturedAt)
{
    public const string V1Body = "Hello K8s, from CF v1 service!";
    public const string V2Body = "Hello K8s, from CF v2 service!";
    public const string FaultBody = "fault filter abort";

    public Outcome Outcome => Body switch
    {
        V1Body => Outcome.V1,
        V2Body => Outcome.V2,
        FaultBody => Outcome.Fault,
        _ => Outcome.Failure,
    };

    /// <summary>How long after its tick the line appeared (the tick is truncated to whole seconds).</summary>
    public TimeSpan? Latency => CapturedAt - Tick;

    public override string ToString() => $"#{Number} {Timestamp}\t{Body}";
}

/// <summary>The caller's debug log of a tick, written before its call: counts ticks independently of the lines.</summary>
public sealed record CallerTick(long Sequence, string Timestamp, DateTimeOffset Tick);

/// <summary>The caller's console split into its printed lines, its tick log and everything else.</summary>
public sealed partial class CallerConsole
{
    public const string TimestampFormat = "yyyy-MM-dd'T'HH:mm:sszzz";

    private CallerConsole(List<CallerLine> lines, List<string> malformed, List<CallerTick> ticks)
    {
        Lines = lines;
        Malformed = malformed;
        Ticks = ticks;
    }

    public IReadOnlyList<CallerLine> Lines { get; }

    /// <summary>Printed lines (not logger output, not Aspire's or DCP's notes) that are not in the demo's format.</summary>
    public IReadOnlyList<string> Malformed { get; }

    public IReadOnlyList<CallerTick> Ticks { get; }

    /// <summary>
    /// Aspire writes its own notes into the console log before the process starts ("Waiting for resource…"); they end
    /// at the first line of the process, which is a logger line. After that, every line that is not logger output or
    /// a DCP note is something the caller printed.
    /// </summary>
    public static CallerConsole Parse(IReadOnlyList<ConsoleLine> console)
    {
        var lines = new List<CallerLine>();
        var malformed = new List<string>();
        var ticks = new List<CallerTick>();
        var started = false;
        foreach (var line in console)
        {
            var text = line.Text;
            if (ConsoleLog.IsLoggerHeader(text))
            {
                started = true;
                continue;
            }
            if (!started || ConsoleLog.IsDcpNote(text))
            {
                continue;
            }
            if (ConsoleLog.IsLoggerMessage(text))
            {
                if (TickLog().Match(text) is { Success: true } tick)
                {
                    ticks.Add(new CallerTick(long.Parse(tick.Groups["sequence"].Value, CultureInfo.InvariantCulture),
                        tick.Groups["at"].Value, ParseTimestamp(tick.Groups["at"].Value)));
                }
                continue;
            }
            if (!LineFormat().IsMatch(text))
            {
                malformed.Add($"#{line.Number}{(line.IsError ? " (stderr)" : "")}: {text}");
                continue;
            }
            var tab = text.IndexOf('\t', StringComparison.Ordinal);
            lines.Add(new CallerLine(line.Number, text[..tab], ParseTimestamp(text[..tab]), text[(tab + 1)..], line.CapturedAt));
        }
        return new CallerConsole(lines, malformed, ticks);
    }

    /// <summary>The demo's line format, exactly as the issue states it.</summary>
    public static bool IsInDemoFormat(string text) => LineFormat().IsMatch(text);

    public static DateTimeOffset ParseTimestamp(string text) =>
        DateTimeOffset.ParseExact(text, TimestampFormat, CultureInfo.InvariantCulture);

    public IEnumerable<CallerLine> TickedFrom(DateTimeOffset from) => Lines.Where(l => l.Tick >= from);

    public string Tail(int count = 20) => string.Join(Environment.NewLine, Lines.TakeLast(count));

    [GeneratedRegex(@"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d\t.+$")]
    private static partial Regex LineFormat();

    [GeneratedRegex(@"^      Tick (?<sequence>\d+) at (?<at>\S+)$")]
    private static partial Regex TickLog();
}
