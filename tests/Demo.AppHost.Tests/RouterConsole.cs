using System.Globalization;
using System.Text.RegularExpressions;

namespace Demo.AppHost.Tests;

/// <summary>One access-log line of the local CF router (gorouter's fields); <c>StartedAt</c> is when the router received the request, by its own clock.</summary>
public sealed record RouterAccessEntry(int Number, string Host, DateTimeOffset StartedAt, int Status, string AppIndex, string Backend, int Attempts, string RouterError,
    string VcapRequestId, string TraceId, DateTimeOffset? CapturedAt, string Text);

/// <summary>
/// A route (un)registration the router logged, its line number in the router's console (the router's own order of
/// events, shared with <see cref="RouterAccessEntry.Number"/>), and when Aspire captured the line.
/// </summary>
public sealed record RouterRegistration(int Number, string Text, DateTimeOffset? CapturedAt)
{
    public override string ToString() => Text;
}

/// <summary>The CF router's console: access-log lines and route (un)registrations.</summary>
public sealed partial class RouterConsole
{
    private RouterConsole(List<RouterAccessEntry> access, List<RouterRegistration> registrations)
    {
        Access = access;
        Registrations = registrations;
    }

    public IReadOnlyList<RouterAccessEntry> Access { get; }

    /// <summary>"Registered …", "Unregistered …" and "Pruned stale …" lines.</summary>
    public IReadOnlyList<RouterRegistration> Registrations { get; }

    public static RouterConsole Parse(IReadOnlyList<ConsoleLine> console)
    {
        var access = new List<RouterAccessEntry>();
        var registrations = new List<RouterRegistration>();
        foreach (var line in console)
        {
            if (AccessLine().Match(line.Text) is { Success: true } a)
            {
                access.Add(new RouterAccessEntry(line.Number, a.Groups["host"].Value,
                    DateTimeOffset.ParseExact(a.Groups["started"].Value, "yyyy-MM-dd'T'HH:mm:ss.fffffff'00Z'", CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal),
                    int.Parse(a.Groups["status"].Value, CultureInfo.InvariantCulture), a.Groups["index"].Value, a.Groups["backend"].Value,
                    int.Parse(a.Groups["attempts"].Value, CultureInfo.InvariantCulture), a.Groups["error"].Value,
                    a.Groups["vcap"].Value, a.Groups["trace"].Value, line.CapturedAt, line.Text.Trim()));
            }
            else if (RegistrationLine().IsMatch(line.Text))
            {
                registrations.Add(new RouterRegistration(line.Number, line.Text.Trim(), line.CapturedAt));
            }
        }
        return new RouterConsole(access, registrations);
    }

    [GeneratedRegex(@"^\s*(?<host>\S+) - \[(?<started>[^\]]+)\] ""\S+ \S+ \S+"" (?<status>\d{3}) .* vcap_request_id:""(?<vcap>[^""]*)"" .* app_index:""(?<index>[^""]*)"" backend:""(?<backend>[^""]*)"" attempts:(?<attempts>\d+) x_cf_routererror:""(?<error>[^""]*)"" traceid:""(?<trace>[^""]*)""")]
    private static partial Regex AccessLine();

    [GeneratedRegex(@"^\s*(Registered|Unregistered|Pruned stale) ")]
    private static partial Regex RegistrationLine();
}
