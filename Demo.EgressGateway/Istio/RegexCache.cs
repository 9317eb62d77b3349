using System.Collections.Concurrent;
using System.Text.RegularExpressions;

namespace Demo.EgressGateway.Istio;

/// <summary>
/// The regexes of string matches, compiled once per process: as Envoy's RE2 matches, against the whole value
/// (<c>^(?:…)$</c>), with .NET's non-backtracking engine (linear time, like RE2). A reload of an unchanged
/// configuration compiles nothing again.
/// </summary>
internal static class RegexCache
{
    private const int MaxEntries = 10_000;
    private static readonly ConcurrentDictionary<string, (Regex? Regex, string? Error)> Compiled = new(StringComparer.Ordinal);

    /// <summary>The compiled pattern, or null with why it does not compile.</summary>
    public static Regex? Compile(string pattern, out string? error)
    {
        if (!Compiled.TryGetValue(pattern, out var entry))
        {
            try
            {
                entry = (new Regex($"^(?:{pattern})$", RegexOptions.CultureInvariant | RegexOptions.NonBacktracking, TimeSpan.FromMilliseconds(100)), null);
            }
            catch (Exception ex) when (ex is ArgumentException or NotSupportedException)
            {
                entry = (null, ex.Message);
            }
            if (Compiled.Count >= MaxEntries)
            {
                Compiled.Clear();
            }
            Compiled[pattern] = entry;
        }
        error = entry.Error;
        return entry.Regex;
    }
}
