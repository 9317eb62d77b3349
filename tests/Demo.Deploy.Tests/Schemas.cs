using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Json.Schema;
using k8s;
using k8s.Models;
using YamlDotNet.RepresentationModel;

namespace Demo.Deploy.Tests;

/// <summary>Istio's CRD schemas (shared/istio/crd-all.gen.yaml), by group, version and kind.</summary>
internal static partial class IstioSchemas
{
    private static readonly Lazy<IReadOnlyDictionary<string, JsonObject>> Schemas = new(Load);
    private static readonly Dictionary<string, JsonSchema> Built = [];
    private static readonly EvaluationOptions Options = new() { OutputFormat = OutputFormat.List };

    [GeneratedRegex(@"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$", RegexOptions.CultureInvariant)]
    private static partial Regex Dns1123Subdomain();

    public static bool Has(string apiVersion, string kind) => Schemas.Value.ContainsKey(Key(apiVersion, kind));

    /// <summary>The versions of <paramref name="group"/> in which the CRDs serve <paramref name="kind"/>.</summary>
    public static IReadOnlySet<string> ServedVersions(string group, string kind) =>
        Schemas.Value.Keys.Select(key => key.Split('/')).Where(parts => parts[0] == group && parts[2] == kind).Select(parts => parts[1]).ToHashSet();

    /// <summary>Everything wrong with <paramref name="document"/>: schema errors, unknown fields, bad metadata.</summary>
    public static IReadOnlyList<string> Validate(RenderedDocument document) => Validate(document.ApiVersion, document.Kind, document.Json);

    public static IReadOnlyList<string> Validate(string apiVersion, string kind, JsonObject document)
    {
        if (!Schemas.Value.TryGetValue(Key(apiVersion, kind), out var schemaNode))
        {
            return [$"no CRD in {Repository.IstioCrds} serves {kind} in {apiVersion}"];
        }

        var errors = new List<string>();
        JsonSchema schema;
        lock (Built)
        {
            var key = Key(apiVersion, kind);
            if (!Built.TryGetValue(key, out schema!))
            {
                var jsonSchema = ToJsonSchema(schemaNode);
                jsonSchema["$schema"] = "https://json-schema.org/draft/2020-12/schema";
                Built[key] = schema = JsonSchema.FromText(jsonSchema.ToJsonString());
            }
        }
        var result = schema.Evaluate(JsonSerializer.SerializeToElement(document), Options);
        if (!result.IsValid)
        {
            errors.AddRange((result.Details ?? []).Where(d => d.Errors is { Count: > 0 })
                .SelectMany(d => d.Errors!.Select(e => $"{d.InstanceLocation}: {e.Value} ({d.EvaluationPath})")));
            if (errors.Count == 0)
            {
                errors.Add("does not match its schema");
            }
        }

        // The CRD schemas have no additionalProperties: false, so a misspelt field passes the evaluation above.
        foreach (var (field, value) in document)
        {
            if (field is "apiVersion" or "kind")
            {
                continue;
            }
            if (field == "metadata")
            {
                errors.AddRange(CheckMetadata(value as JsonObject));
                continue;
            }
            var property = schemaNode["properties"]?[field];
            if (property is null)
            {
                errors.Add($"{field}: unknown field");
                continue;
            }
            CheckFields(value, property, field, errors);
        }
        return errors;
    }

    private static IEnumerable<string> CheckMetadata(JsonObject? metadata)
    {
        if (metadata is null)
        {
            yield return "metadata: missing";
            yield break;
        }
        foreach (var (field, _) in metadata)
        {
            if (field is not ("name" or "namespace" or "labels" or "annotations"))
            {
                yield return $"metadata.{field}: not expected in a manifest";
            }
        }
        var name = (string?)metadata["name"];
        if (name is null || name.Length > 253 || !Dns1123Subdomain().IsMatch(name))
        {
            yield return $"metadata.name: '{name}' is not a DNS-1123 subdomain";
        }
    }

    private static void CheckFields(JsonNode? value, JsonNode schema, string path, List<string> errors)
    {
        if (value is null || schema["x-kubernetes-preserve-unknown-fields"]?.GetValue<bool>() == true)
        {
            return;
        }
        switch (value)
        {
            case JsonObject map:
                var properties = schema["properties"] as JsonObject;
                var additional = schema["additionalProperties"] as JsonObject;
                foreach (var (field, child) in map)
                {
                    if (properties?[field] is { } property)
                    {
                        CheckFields(child, property, $"{path}.{field}", errors);
                    }
                    else if (additional is not null)
                    {
                        CheckFields(child, additional, $"{path}.{field}", errors);
                    }
                    else
                    {
                        errors.Add($"{path}.{field}: unknown field");
                    }
                }
                break;
            case JsonArray list when schema["items"] is { } items:
                for (var i = 0; i < list.Count; i++)
                {
                    CheckFields(list[i], items, $"{path}[{i}]", errors);
                }
                break;
        }
    }

    private static string Key(string apiVersion, string kind) => $"{apiVersion}/{kind}";

    /// <summary>
    /// OpenAPI v3 (as Kubernetes uses it) to JSON Schema 2020-12: <c>nullable</c> becomes a "null" type, and the
    /// <c>x-kubernetes-*</c> extensions, which a JSON Schema validator does not know, are left out.
    /// </summary>
    private static JsonObject ToJsonSchema(JsonObject openApi)
    {
        var result = new JsonObject();
        foreach (var (keyword, value) in openApi)
        {
            if (keyword == "nullable" || keyword.StartsWith("x-kubernetes-", StringComparison.Ordinal))
            {
                continue;
            }
            result[keyword] = (keyword, value) switch
            {
                ("properties" or "patternProperties", JsonObject map) =>
                    new JsonObject(map.Select(kv => KeyValuePair.Create(kv.Key, (JsonNode?)ToJsonSchema(kv.Value!.AsObject())))),
                ("items" or "additionalProperties" or "not", JsonObject subschema) => ToJsonSchema(subschema),
                ("allOf" or "anyOf" or "oneOf", JsonArray subschemas) =>
                    new JsonArray(subschemas.Select(s => (JsonNode?)ToJsonSchema(s!.AsObject())).ToArray()),
                _ => value?.DeepClone(),
            };
        }
        if (openApi["nullable"] is JsonValue nullable && nullable.GetValue<bool>() && result["type"] is JsonValue type)
        {
            result["type"] = new JsonArray(type.DeepClone(), "null");
        }
        return result;
    }

    private static IReadOnlyDictionary<string, JsonObject> Load()
    {
        if (!File.Exists(Repository.IstioCrds))
        {
            throw new FileNotFoundException($"Istio's CRDs are expected at {Repository.IstioCrds} (shared/ beside the clone)");
        }
        var stream = new YamlStream();
        using (var reader = File.OpenText(Repository.IstioCrds))
        {
            stream.Load(reader);
        }
        var schemas = new Dictionary<string, JsonObject>();
        foreach (var document in stream.Documents)
        {
            if (YamlJson.ToJson(document.RootNode) is not JsonObject crd || (string?)crd["kind"] != "CustomResourceDefinition")
            {
                continue;
            }
            var group = (string)crd["spec"]!["group"]!;
            var kind = (string)crd["spec"]!["names"]!["kind"]!;
            foreach (var version in crd["spec"]!["versions"]!.AsArray())
            {
                if (version!["served"]?.GetValue<bool>() == true && version["schema"]?["openAPIV3Schema"] is JsonObject schema)
                {
                    schemas[Key($"{group}/{version["name"]}", kind)] = schema;
                }
            }
        }
        return schemas;
    }
}

/// <summary>Core Kubernetes kinds, checked against the KubernetesClient models: unknown fields and wrong types fail.</summary>
internal static class KubernetesSchemas
{
    public static bool Has(string apiVersion, string kind) => (apiVersion, kind) is
        ("v1", "Namespace" or "ServiceAccount" or "ConfigMap" or "Service") or ("apps/v1", "Deployment") or ("networking.k8s.io/v1", "NetworkPolicy");

    public static IReadOnlyList<string> Validate(RenderedDocument document) => Validate(document.ApiVersion, document.Kind, document.Yaml);

    public static IReadOnlyList<string> Validate(string apiVersion, string kind, string yaml)
    {
        try
        {
            object model = (apiVersion, kind) switch
            {
                ("v1", "Namespace") => Strict<V1Namespace>(yaml),
                ("v1", "ServiceAccount") => Strict<V1ServiceAccount>(yaml),
                ("v1", "ConfigMap") => Strict<V1ConfigMap>(yaml),
                ("v1", "Service") => Strict<V1Service>(yaml),
                ("apps/v1", "Deployment") => Strict<V1Deployment>(yaml),
                ("networking.k8s.io/v1", "NetworkPolicy") => Strict<V1NetworkPolicy>(yaml),
                _ => throw new NotSupportedException($"no Kubernetes model for {kind} in {apiVersion}"),
            };

            // What the model read must be all that the document said: a value the model could not hold would differ.
            var original = RenderedDocument.Parse(yaml).Json;
            var roundTrip = RenderedDocument.Parse(KubernetesYaml.Serialize(model)).Json;
            return JsonNode.DeepEquals(original, roundTrip) ? [] : [$"reads back differently:\n{roundTrip}"];
        }
        catch (Exception ex) when (ex is YamlDotNet.Core.YamlException or NotSupportedException or FormatException or InvalidOperationException)
        {
            return [ex.InnerException is { } inner ? $"{ex.Message} {inner.Message}" : ex.Message];
        }
    }

    private static T Strict<T>(string yaml) => KubernetesYaml.Deserialize<T>(yaml, strict: true);
}
