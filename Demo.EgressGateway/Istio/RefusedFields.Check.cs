using System.Text.Json;

namespace Demo.EgressGateway.Istio;

// RefusedFields, continued: checking the list against a parsed document, path by path.
public static partial class RefusedFields
{
    private const string HandledProtocols = "HTTP, HTTPS, GRPC, HTTP2, MONGO, TCP, TLS";

    // The fields a DestinationRule's portLevelSettings[] has (destination_rule.proto TrafficPolicy.PortTrafficPolicy).
    private static readonly string[] PortLevelFields = ["loadBalancer", "connectionPool", "outlierDetection", "tls"];

    /// <summary>
    /// Reports every refused field present in <paramref name="document"/> (a resource of <paramref name="kind"/>, with a
    /// refused value), in the order of <see cref="All"/>, naming its path in the document.
    /// </summary>
    internal static void Check(string kind, JsonElement document, Findings findings)
    {
        var path = new List<(string Name, int Index)>();
        foreach (var (field, segments) in ByKind.Value.GetValueOrDefault(kind) ?? [])
        {
            Find(document, segments, 0, path, field, findings);
        }
    }

    // A value found at a refused field's path: reported when the field refuses any value or this one.
    private static void Found(RefusedField field, Findings findings, List<(string Name, int Index)> path, JsonElement value, JsonElement parent)
    {
        if (field.Values is null)
        {
            findings.Error(Spelled(path), field.Message);
        }
        else if (field.Values(value, parent) is { } shown)
        {
            findings.Error(Spelled(path), field.MessageFor(shown));
        }
    }

    // spec, (http, 0), route → spec.http[0].route.
    private static string Spelled(List<(string Name, int Index)> path) =>
        string.Join('.', path.Select(part => part.Index < 0 ? part.Name : $"{part.Name}[{part.Index}]"));

    /// <summary>Where a refusal applies: its field and <see cref="RefusedField.AlsoAt"/>, each with <see cref="PlacesOf"/>.</summary>
    internal static IEnumerable<string> Places(RefusedField field) =>
        new[] { field.Field }.Concat(field.AlsoAt).SelectMany(place => PlacesOf(field.Kind, place));

    /// <summary>
    /// The paths a field of <paramref name="kind"/> is at: itself; a DestinationRule field under
    /// <c>spec.trafficPolicy</c> also under <c>subsets[].trafficPolicy</c> and, where Istio has it,
    /// <c>portLevelSettings[]</c> (as refused and inert fields are listed once, under <c>spec.trafficPolicy</c>).
    /// </summary>
    internal static IEnumerable<string> PlacesOf(string kind, string field)
    {
        const string Policy = "spec.trafficPolicy.";
        if (kind != "DestinationRule" || !field.StartsWith(Policy, StringComparison.Ordinal))
        {
            return [field];
        }
        var rest = field[Policy.Length..];
        return PortLevelFields.Contains(rest.Split('.')[0])
            ? [field, "spec.subsets[].trafficPolicy." + rest, Policy + "portLevelSettings[]." + rest, "spec.subsets[].trafficPolicy.portLevelSettings[]." + rest]
            : [field, "spec.subsets[].trafficPolicy." + rest];
    }

    // spec.http[].match[].headers.@request.auth.claims → spec, http[], match[], headers, @request.auth.claims.
    private static string[] Segments(string path)
    {
        var at = path.IndexOf(".@", StringComparison.Ordinal);
        return at < 0 ? path.Split('.') : [.. path[..at].Split('.'), path[(at + 1)..]];
    }

    // Calls Found with each value at the segments' path (null ones are absent, as Kubernetes prunes them): a segment
    // "x[]" is each item of the list x; a last segment "@prefix" is each key of the map starting with it. The path is a
    // stack of its parts, spelled out only for a value refused.
    private static void Find(JsonElement node, string[] segments, int at, List<(string Name, int Index)> path, RefusedField field, Findings findings)
    {
        if (node.ValueKind != JsonValueKind.Object)
        {
            return;
        }
        var segment = segments[at];
        if (segment.StartsWith('@'))
        {
            foreach (var member in node.EnumerateObject())
            {
                if (member.Name.StartsWith(segment, StringComparison.Ordinal) && member.Value.ValueKind != JsonValueKind.Null)
                {
                    path.Add((member.Name, -1));
                    Found(field, findings, path, member.Value, node);
                    path.RemoveAt(path.Count - 1);
                }
            }
            return;
        }
        var list = segment.EndsWith("[]", StringComparison.Ordinal);
        var name = list ? segment[..^2] : segment;
        if (!node.TryGetProperty(name, out var child) || child.ValueKind == JsonValueKind.Null)
        {
            return;
        }
        if (!list)
        {
            Visit(child, -1);
        }
        else if (child.ValueKind == JsonValueKind.Array)
        {
            var i = 0;
            foreach (var item in child.EnumerateArray())
            {
                if (item.ValueKind != JsonValueKind.Null)
                {
                    Visit(item, i);
                }
                i++;
            }
        }

        void Visit(JsonElement value, int index)
        {
            path.Add((name, index));
            if (at == segments.Length - 1)
            {
                Found(field, findings, path, value, node);
            }
            else
            {
                Find(value, segments, at + 1, path, field, findings);
            }
            path.RemoveAt(path.Count - 1);
        }
    }

    private static bool IsSet(JsonElement map, string name) =>
        map.ValueKind == JsonValueKind.Object && map.TryGetProperty(name, out var value) && value.ValueKind != JsonValueKind.Null;

    private static string? Text(JsonElement value) => value.ValueKind == JsonValueKind.String ? value.GetString() : null;

    private static string? Is(JsonElement value, string refused) => Text(value) == refused ? refused : null;

    // listener.go BuildListenerTLSContext writes none of the handshake settings for an ISTIO_MUTUAL server.
    private static string? UnlessServerIsIstioMutual(JsonElement value, JsonElement tls) =>
        tls.TryGetProperty("mode", out var mode) && Text(mode) == "ISTIO_MUTUAL" ? null : "";

    private static string? UnhandledProtocol(JsonElement value, JsonElement port) =>
        Text(value) is { } protocol && !HandledProtocols.Split(", ").Contains(protocol) ? protocol : null;
}
