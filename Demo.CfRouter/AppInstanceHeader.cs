using System.Text.RegularExpressions;

namespace Demo.CfRouter;

/// <summary>
/// <c>X-CF-APP-INSTANCE: &lt;app guid&gt;:&lt;instance index&gt;</c>, which sends a request to one instance of an app
/// (cloudfoundry/gorouter <c>handlers/lookup.go</c> <c>parseAppInstanceHeader</c>): the guid in lower-case hex,
/// 8-4-4-4-12, then <c>:</c> and ASCII digits, nothing else.
/// </summary>
public readonly partial record struct AppInstanceHeader(string AppId, string Index)
{
    public const string Name = "X-CF-APP-INSTANCE";

    /// <summary>
    /// The header as gorouter reads it (<c>r.Header.Get</c>: the first value); null when it is absent or empty, which
    /// gorouter treats alike. <paramref name="malformed"/> is true when it is present but not in the form above.
    /// </summary>
    public static AppInstanceHeader? Read(HttpRequest request, out bool malformed)
    {
        malformed = false;
        if (request.Headers[Name].FirstOrDefault() is not { Length: > 0 } value)
        {
            return null;
        }
        if (Format().Match(value) is not { Success: true } match)
        {
            malformed = true;
            return null;
        }
        return new AppInstanceHeader(match.Groups["id"].Value, match.Groups["idx"].Value);
    }

    // Go's \d is ASCII-only and its $ is the end of the text.
    [GeneratedRegex(@"^(?<id>[0-9a-f]{8}-(?:[0-9a-f]{4}-){3}[0-9a-f]{12}):(?<idx>[0-9]+)\z", RegexOptions.CultureInvariant)]
    private static partial Regex Format();
}
