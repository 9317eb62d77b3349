using System.Globalization;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace Demo.Deploy.Tests;

/// <summary>One object of a <c>kubectl kustomize</c> render: its identity, its YAML text and the same as JSON.</summary>
internal sealed record RenderedDocument(string ApiVersion, string Kind, string Name, string? Namespace, string Yaml, JsonObject Json)
{
    public string Group => ApiVersion.Contains('/') ? ApiVersion[..ApiVersion.IndexOf('/')] : "";

    public string Version => ApiVersion[(ApiVersion.IndexOf('/') + 1)..];

    public JsonNode Spec => Json["spec"] ?? throw new InvalidOperationException($"{this} has no spec");

    public override string ToString() => $"{Kind} {Namespace}/{Name}";

    /// <summary>Splits a render into its documents (kubectl separates them with a line <c>---</c>).</summary>
    public static IReadOnlyList<RenderedDocument> ParseAll(string yaml) =>
        yaml.Replace("\r\n", "\n", StringComparison.Ordinal).Split("\n---\n")
            .Where(text => !string.IsNullOrWhiteSpace(text))
            .Select(text => Parse(text.TrimEnd('\n') + "\n"))
            .ToList();

    public static RenderedDocument Parse(string yaml)
    {
        var stream = new YamlStream();
        stream.Load(new StringReader(yaml));
        var json = YamlJson.ToJson(stream.Documents.Single().RootNode) as JsonObject
            ?? throw new InvalidOperationException($"not an object:\n{yaml}");
        return new RenderedDocument(
            (string?)json["apiVersion"] ?? "",
            (string?)json["kind"] ?? "",
            (string?)json["metadata"]?["name"] ?? "",
            (string?)json["metadata"]?["namespace"],
            yaml,
            json);
    }
}

internal static partial class YamlJson
{
    [GeneratedRegex("^[-+]?[0-9]+$", RegexOptions.CultureInvariant)]
    private static partial Regex Integer();

    [GeneratedRegex(@"^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$", RegexOptions.CultureInvariant)]
    private static partial Regex Float();

    /// <summary>YAML to JSON with the YAML 1.2 core schema for plain scalars; quoted scalars stay strings.</summary>
    public static JsonNode? ToJson(YamlNode node) => node switch
    {
        YamlMappingNode map => new JsonObject(map.Children.Select(kv =>
            KeyValuePair.Create(((YamlScalarNode)kv.Key).Value ?? "", ToJson(kv.Value)))),
        YamlSequenceNode sequence => new JsonArray(sequence.Children.Select(ToJson).ToArray()),
        YamlScalarNode { Style: ScalarStyle.Plain } scalar => Plain(scalar.Value ?? ""),
        YamlScalarNode scalar => JsonValue.Create(scalar.Value ?? ""),
        _ => throw new NotSupportedException(node.NodeType.ToString()),
    };

    private static JsonNode? Plain(string value)
    {
        if (value is "" or "~" or "null" or "Null" or "NULL")
        {
            return null;
        }
        if (value is "true" or "True" or "TRUE" or "false" or "False" or "FALSE")
        {
            return JsonValue.Create(bool.Parse(value));
        }
        if (Integer().IsMatch(value) && long.TryParse(value, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var integer))
        {
            return JsonValue.Create(integer);
        }
        if (Float().IsMatch(value))
        {
            return JsonValue.Create(double.Parse(value, CultureInfo.InvariantCulture));
        }
        return JsonValue.Create(value);
    }

    public static JsonNode? Load(string yamlFile)
    {
        var stream = new YamlStream();
        using var reader = File.OpenText(yamlFile);
        stream.Load(reader);
        return ToJson(stream.Documents.Single().RootNode);
    }
}
