using System.Text.Json;
using System.Text.RegularExpressions;
using Demo.EgressGateway.Istio.Schema;
using Demo.EgressGateway.Istio.Validation;
using Api = Demo.EgressGateway.Istio.Api;

namespace Demo.EgressGateway.Istio;

/// <summary>The resources read from one folder, plus everything found wrong with them.</summary>
public sealed record IstioConfigSet(IReadOnlyList<IstioResource> Resources, IReadOnlyList<ConfigDiagnostic> Diagnostics)
{
    /// <summary>
    /// From this many resources a configuration is large: it is translated on two threads (both proxies at once, while
    /// the analyzer runs), and the gateway compacts its heap after building it. Below, that costs more than it saves.
    /// </summary>
    public const int LargeResourceCount = 200;

    public bool HasErrors => Diagnostics.Any(d => d.Severity == DiagnosticSeverity.Error);

    /// <summary>Whether this configuration has <see cref="LargeResourceCount"/> resources or more.</summary>
    public bool IsLarge => Resources.Count >= LargeResourceCount;

    public IEnumerable<T> OfKind<T>() where T : IstioResource => Resources.OfType<T>();
}

/// <summary>
/// Reads Istio networking YAML (every <c>*.yaml</c> of a folder, like <c>kubectl apply -f</c>) the way a cluster
/// takes it: YAML to JSON (<see cref="YamlJsonReader"/>), the CRD schema of the kind and version
/// (<see cref="SchemaValidator"/>: types, enums, ranges, item counts, required and unknown fields, CEL rules), the
/// local gateway's own refusals (<see cref="RefusedFields"/>), then the Istio API records
/// (<see cref="Api.IstioApiJson"/>) and Istio's webhook rules (<see cref="IstioValidation"/>). Each finding is a
/// diagnostic naming file, line, resource and field.
/// </summary>
public static partial class IstioConfigLoader
{
    public const string ApiGroup = "networking.istio.io";
    public const string ScenariosFolder = "scenarios";
    private const long MaxFileBytes = 1024 * 1024;
    private const string CurrentApiVersion = ApiGroup + "/v1";
    private static readonly string[] OlderApiVersions = [ApiGroup + "/v1beta1", ApiGroup + "/v1alpha3"];

    /// <summary>A Kubernetes API version of the group (v1, v1beta1, v2alpha1, ...): which ones Istio serves, the analyzer checks.</summary>
    [GeneratedRegex(@"^networking\.istio\.io/v[0-9]+((alpha|beta)[0-9]+)?$", RegexOptions.CultureInvariant)]
    private static partial Regex ApiVersionOfGroup();

    [GeneratedRegex("^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$", RegexOptions.CultureInvariant)]
    private static partial Regex ResourceName();

    /// <summary>
    /// Loads <paramref name="directory"/>/*.yaml, then each scenario file of <c>scenarios/</c> named in
    /// <paramref name="scenarios"/>, whose resources replace the resources of the same kind and name.
    /// </summary>
    public static IstioConfigSet LoadDirectory(string directory, IReadOnlyList<string>? scenarios = null)
    {
        var diagnostics = new List<ConfigDiagnostic>();
        if (!Directory.Exists(directory))
        {
            diagnostics.Add(new(DiagnosticSeverity.Error, directory, null, null, "the Istio configuration folder does not exist"));
            return new([], diagnostics);
        }

        var files = Directory.EnumerateFiles(directory)
            .Where(IsConfigFile)
            .Order(StringComparer.Ordinal)
            .ToList();
        if (files.Count == 0)
        {
            diagnostics.Add(new(DiagnosticSeverity.Error, directory, null, null, "holds no *.yaml file"));
        }

        var loaded = LoadFiles(files);
        var resources = loaded.SelectMany(set => set.Resources).ToList();
        diagnostics.AddRange(loaded.SelectMany(set => set.Diagnostics));

        foreach (var scenario in scenarios ?? [])
        {
            var name = scenario.EndsWith(".yaml", StringComparison.Ordinal) ? scenario : scenario + ".yaml";
            var path = Path.Combine(directory, ScenariosFolder, name);
            if (name.Contains('/') || name.Contains('\\') || !File.Exists(path))
            {
                var known = ScenarioCatalog.Names(directory) is { Count: > 0 } names ? string.Join(", ", names) : "none";
                diagnostics.Add(new(DiagnosticSeverity.Error, path, null, "scenario",
                    $"scenario '{scenario}' does not exist; known scenarios: {known}"));
                continue;
            }
            var scenarioSet = LoadFile(path);
            diagnostics.AddRange(scenarioSet.Diagnostics);
            foreach (var replacement in scenarioSet.Resources)
            {
                resources.RemoveAll(r => r.Id.Kind == replacement.Id.Kind && r.Id.Name == replacement.Id.Name);
                resources.Add(replacement);
            }
        }

        return new(resources, diagnostics);
    }

    public static bool IsConfigFile(string path)
    {
        var name = Path.GetFileName(path);
        return (name.EndsWith(".yaml", StringComparison.Ordinal) || name.EndsWith(".yml", StringComparison.Ordinal))
            && !name.StartsWith('.')
            && !name.Equals("kustomization.yaml", StringComparison.Ordinal)
            && !name.Equals("kustomization.yml", StringComparison.Ordinal);
    }

    /// <summary>Parses YAML text (one or more documents) as if it were the file <paramref name="file"/>.</summary>
    public static IstioConfigSet Parse(string file, string yaml) => ResourcesOf(file, ReadYaml(yaml));

    // The YAML text's documents as JSON, or why the text is not read at all (with its line; field "" for a text too long).
    private static (List<YamlJsonDocument> Documents, string? Error, int? Line, string? Field) ReadYaml(string yaml)
    {
        if (yaml.Length > MaxFileBytes)
        {
            return ([], $"is {yaml.Length} characters; files over {MaxFileBytes} are refused", null, "");
        }
        var (documents, error, line) = YamlJsonReader.Read(yaml);
        return (documents, error, line, null);
    }

    // The resources of one file's documents (each disposed once read), with everything found wrong with them.
    private static IstioConfigSet ResourcesOf(string file, (List<YamlJsonDocument> Documents, string? Error, int? Line, string? Field) read)
    {
        var diagnostics = new List<ConfigDiagnostic>();
        var resources = new List<IstioResource>();
        if (read.Error is not null)
        {
            diagnostics.Add(new(DiagnosticSeverity.Error, file, null, read.Field, read.Error, read.Line));
            return new(resources, diagnostics);
        }
        foreach (var document in read.Documents)
        {
            using (document)
            {
                var findings = new Findings(file, document, diagnostics);
                if (document.Root.ValueKind == JsonValueKind.Null)
                {
                    continue;
                }
                if (document.Root.ValueKind != JsonValueKind.Object)
                {
                    findings.Error("", "a YAML document must be an object with apiVersion, kind, metadata and spec");
                    continue;
                }
                if (ParseResource(file, document, findings) is { } resource)
                {
                    resources.Add(resource);
                }
            }
        }
        return new(resources, diagnostics);
    }

    private static IstioResource? ParseResource(string file, YamlJsonDocument document, Findings findings)
    {
        var root = document.Root;
        var apiVersion = Text(root, "apiVersion");
        var kind = Text(root, "kind");
        var metadata = root.TryGetProperty("metadata", out var m) ? m : default;
        var name = Text(metadata, "name");
        findings.Resource = kind is null ? null : $"{kind} '{name ?? "?"}'";
        foreach (var (path, message, line) in document.KeyErrors)
        {
            findings.Error(path, message, line);
        }

        // Any well-formed version of the group loads; one the declared Istio does not serve is the analyzer's error
        // (IstioAnalyzer knows the version), so that check can name what that version serves. Another group's
        // document is not read any further.
        if (apiVersion is not null && kind is not null && !ApiVersionOfGroup().IsMatch(apiVersion))
        {
            findings.Error("apiVersion", apiVersion.StartsWith(ApiGroup + "/", StringComparison.Ordinal)
                ? $"'{apiVersion}' is not a version of {ApiGroup}; use {CurrentApiVersion}"
                : RefusedFields.ApiVersion.MessageFor(apiVersion));
            return null;
        }
        SchemaValidator.Validate(root, Envelope.Document, "", findings);
        if (name is not null && !ResourceName().IsMatch(name))
        {
            findings.Error("metadata.name", $"'{name}' is not a valid Kubernetes name (lower case letters, digits, '-' and '.')");
        }
        if (apiVersion is not null && OlderApiVersions.Contains(apiVersion))
        {
            findings.Warning("apiVersion", $"'{apiVersion}' is an older API version; use {CurrentApiVersion}");
        }
        var schema = kind is null ? null : IstioSchema.Spec(kind, apiVersion?[(apiVersion.IndexOf('/', StringComparison.Ordinal) + 1)..] ?? "");
        if (kind is not null && schema is null)
        {
            findings.Error("kind", RefusedFields.Kind.MessageFor(kind));
            return null;
        }
        if (findings.Errors > 0 || kind is null || name is null || apiVersion is null || schema is null
            || !root.TryGetProperty("spec", out var spec) || spec.ValueKind != JsonValueKind.Object)
        {
            return null;
        }

        SchemaValidator.Validate(spec, schema, "spec", findings);
        var schemaErrors = findings.Errors;
        RefusedFields.Check(kind, root, findings);
        if (schemaErrors > 0)
        {
            // As the API server does before Istio's webhook runs: a document its schema refuses goes no further.
            return null;
        }
        var id = new ResourceId(kind, name, Text(metadata, "namespace"), file) { ApiVersion = apiVersion };
        try
        {
            return kind switch
            {
                "ServiceEntry" => ServiceEntryOf(id, spec.Deserialize(Api.IstioApiJson.Default.ServiceEntry)!, findings),
                "Gateway" => GatewayOf(id, spec.Deserialize(Api.IstioApiJson.Default.Gateway)!, findings),
                "DestinationRule" => DestinationRuleOf(id, spec.Deserialize(Api.IstioApiJson.Default.DestinationRule)!, findings),
                "VirtualService" => VirtualServiceOf(id, spec.Deserialize(Api.IstioApiJson.Default.VirtualService)!, findings),
                "Sidecar" => SidecarOf(id, spec.Deserialize(Api.IstioApiJson.Default.Sidecar)!, findings),
                _ => null,
            };
        }
        catch (JsonException ex)
        {
            findings.Error("spec", $"cannot be read: {ex.Message}");
            return null;
        }
    }

    private static string? Text(JsonElement map, string field) =>
        map.ValueKind == JsonValueKind.Object && map.TryGetProperty(field, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;

    // A uint32 of the API as the domain records hold it (the schema and webhook rules bound the values that load).
    private static int? Int(uint? value) => value is null ? null : (int)Math.Min(value.Value, int.MaxValue);

    private static TimeSpan? Duration(string? text) => text is not null && Durations.TryParse(text, out var value) ? value : null;

    private static IReadOnlyDictionary<string, string> Labels(IReadOnlyDictionary<string, string>? labels) =>
        labels is null ? new Dictionary<string, string>(StringComparer.Ordinal) : new Dictionary<string, string>(labels, StringComparer.Ordinal);

    /// <summary>
    /// What every document has besides <c>spec</c>: Kubernetes' type and object metadata, as the API server checks
    /// them (<c>spec</c> and <c>status</c> are checked elsewhere and not at all: status is Istio's to write).
    /// </summary>
    private static class Envelope
    {
        private static readonly SchemaNode Any = new();
        private static readonly SchemaNode Text = new() { Type = SchemaType.String };
        private static readonly SchemaNode NonEmpty = new() { Type = SchemaType.String, MinLength = 1 };
        private static readonly SchemaNode StringMap = new() { Type = SchemaType.Object, AdditionalProperties = Text };

        public static readonly SchemaNode Document = new()
        {
            Type = SchemaType.Object,
            Required = ["apiVersion", "kind", "metadata", "spec"],
            Properties = new Dictionary<string, SchemaNode>(StringComparer.Ordinal)
            {
                ["apiVersion"] = NonEmpty,
                ["kind"] = NonEmpty,
                ["metadata"] = new()
                {
                    Type = SchemaType.Object,
                    Required = ["name"],
                    Properties = new Dictionary<string, SchemaNode>(StringComparer.Ordinal)
                    {
                        ["name"] = NonEmpty,
                        ["namespace"] = Text,
                        ["labels"] = StringMap,
                        ["annotations"] = StringMap,
                        ["generation"] = Any,
                        ["resourceVersion"] = Any,
                        ["uid"] = Any,
                        ["creationTimestamp"] = Any,
                        ["managedFields"] = Any,
                    },
                },
                ["spec"] = new() { Type = SchemaType.Object, PreserveUnknownFields = true },
                ["status"] = Any,
            },
        };
    }
}
