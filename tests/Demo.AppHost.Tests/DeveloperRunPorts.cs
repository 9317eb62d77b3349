using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace Demo.AppHost.Tests;

/// <summary>
/// Stands in for a developer's own run of the app while the suite runs: holds every loopback port the repository's
/// launch profiles name (<c>*/Properties/launchSettings.json</c>: <c>applicationUrl</c> and URL-valued environment
/// variables, e.g. the AppHost's 15080 and the proxy's 5282), so a test run that reuses one fails to start a resource
/// instead of talking to the other run. A port something else already listens on is left to it.
/// </summary>
public sealed partial class DeveloperRunPorts : IDisposable
{
    private readonly List<TcpListener> _listeners = [];

    private DeveloperRunPorts()
    {
    }

    /// <summary>The ports named by the launch profiles, ascending.</summary>
    public IReadOnlyList<int> Ports { get; private set; } = [];

    /// <summary>The ports this instance holds (the others were already taken).</summary>
    public IReadOnlyList<int> Held => [.. _listeners.Select(l => ((IPEndPoint)l.LocalEndpoint).Port)];

    /// <summary>Reads the launch profiles under <paramref name="repositoryRoot"/> and holds their free ports on 127.0.0.1.</summary>
    /// <exception cref="InvalidOperationException">No launch profile names a port (the repository layout changed).</exception>
    public static DeveloperRunPorts Hold(string repositoryRoot)
    {
        var held = new DeveloperRunPorts { Ports = LaunchProfilePorts(repositoryRoot) };
        if (held.Ports.Count == 0)
        {
            throw new InvalidOperationException($"No launch profile under {repositoryRoot} names a port.");
        }
        foreach (var port in held.Ports)
        {
            var listener = new TcpListener(IPAddress.Loopback, port);
            try
            {
                listener.Start();
                held._listeners.Add(listener);
            }
            catch (SocketException e) when (e.SocketErrorCode == SocketError.AddressAlreadyInUse)
            {
                listener.Dispose();
            }
        }
        return held;
    }

    /// <summary>Every port in a <c>http(s)://host:port</c> URL of the projects' launch profiles.</summary>
    public static IReadOnlyList<int> LaunchProfilePorts(string repositoryRoot) =>
        [.. Directory.EnumerateDirectories(repositoryRoot, "Demo.*")
            .Select(d => Path.Combine(d, "Properties", "launchSettings.json"))
            .Where(File.Exists)
            .SelectMany(f => Strings(JsonDocument.Parse(File.ReadAllText(f)).RootElement))
            .SelectMany(s => PortInUrl().Matches(s).Select(m => int.Parse(m.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture)))
            .Distinct()
            .Order()];

    /// <inheritdoc />
    public void Dispose() => _listeners.ForEach(l => l.Dispose());

    private static IEnumerable<string> Strings(JsonElement element) => element.ValueKind switch
    {
        JsonValueKind.String => [element.GetString()!],
        JsonValueKind.Object => element.EnumerateObject().SelectMany(p => Strings(p.Value)),
        JsonValueKind.Array => element.EnumerateArray().SelectMany(Strings),
        _ => [],
    };

    [GeneratedRegex(@"https?://[^/:;\s]+:(\d+)")]
    private static partial Regex PortInUrl();
}
