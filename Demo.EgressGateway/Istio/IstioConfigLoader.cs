using System.Text.RegularExpressions;
using YamlDotNet.Core;
using YamlDotNet.Core.Events;
using YamlDotNet.RepresentationModel;

namespace Demo.EgressGateway.Istio;

/// <summary>The resources read from one folder, plus everything found wrong with them.</summary>
public sealed record IstioConfigSet(IReadOnlyList<IstioResource> Resources, IReadOnlyList<ConfigDiagnostic> Diagnostics)
{
    public bool HasErrors => Diagnostics.Any(d => d.Severity == DiagnosticSeverity.Error);

    public IEnumerable<T> OfKind<T>() where T : IstioResource => Resources.OfType<T>();
}

/// <summary>
/// Reads Istio networking YAML (every <c>*.yaml</c> of a folder, like <c>kubectl apply -f</c>), strictly:
/// an unknown kind or field, a wrong type or a value out of range is a diagnostic naming file, resource and field.
/// </summary>
public static partial class IstioConfigLoader
{
    public const string ApiGroup = "networking.istio.io";
    public const string ScenariosFolder = "scenarios";
    private const long MaxFileBytes = 1024 * 1024;
    private const int MaxDepth = 32;
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

        var resources = new List<IstioResource>();
        foreach (var file in files)
        {
            var loaded = LoadFile(file);
            resources.AddRange(loaded.Resources);
            diagnostics.AddRange(loaded.Diagnostics);
        }

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
            var loaded = LoadFile(path);
            diagnostics.AddRange(loaded.Diagnostics);
            foreach (var replacement in loaded.Resources)
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

    public static IstioConfigSet LoadFile(string path)
    {
        try
        {
            var info = new FileInfo(path);
            if (info.Length > MaxFileBytes)
            {
                return new([], [new(DiagnosticSeverity.Error, path, null, null,
                    $"is {info.Length} bytes; files over {MaxFileBytes} bytes are refused")]);
            }
            return Parse(path, File.ReadAllText(path));
        }
        catch (IOException ex)
        {
            return new([], [new(DiagnosticSeverity.Error, path, null, null, $"cannot be read: {ex.Message}")]);
        }
    }

    /// <summary>Parses YAML text (one or more documents) as if it were the file <paramref name="file"/>.</summary>
    public static IstioConfigSet Parse(string file, string yaml)
    {
        var context = new YamlReadContext(file);
        var resources = new List<IstioResource>();
        if (yaml.Length > MaxFileBytes)
        {
            context.Error("", $"is {yaml.Length} characters; files over {MaxFileBytes} are refused", null);
            return new(resources, context.Diagnostics);
        }

        if (!PassesStructureCheck(yaml, context))
        {
            return new(resources, context.Diagnostics);
        }

        var stream = new YamlStream();
        try
        {
            stream.Load(new StringReader(yaml));
        }
        catch (YamlException ex)
        {
            context.Diagnostics.Add(new(DiagnosticSeverity.Error, file, null, null, $"is not valid YAML: {ex.Message}", (int)ex.Start.Line));
            return new(resources, context.Diagnostics);
        }
        catch (InvalidOperationException ex)
        {
            // YamlDotNet throws this (not a YamlException) for some broken streams, e.g. "...\n%YAML 1.1\n".
            context.Diagnostics.Add(new(DiagnosticSeverity.Error, file, null, null, $"is not valid YAML: {ex.Message}", 1));
            return new(resources, context.Diagnostics);
        }

        foreach (var document in stream.Documents)
        {
            context.Resource = null;
            if (document.RootNode is YamlScalarNode { Value: null or "" or "~" or "null" })
            {
                continue;
            }
            if (document.RootNode is not YamlMappingNode root)
            {
                context.Error("", "a YAML document must be an object with apiVersion, kind, metadata and spec", document.RootNode);
                continue;
            }
            var resource = ParseResource(new YamlFields(root, "", context));
            if (resource is not null)
            {
                resources.Add(resource);
            }
        }

        return new(resources, context.Diagnostics);
    }

    // Aliases could multiply a small file into a huge tree, and deep nesting could exhaust the stack of the
    // recursive node builder: both are refused before the document is built.
    private static bool PassesStructureCheck(string yaml, YamlReadContext context)
    {
        var parser = new Parser(new StringReader(yaml));
        try
        {
            var depth = 0;
            while (parser.MoveNext())
            {
                switch (parser.Current)
                {
                    case MappingStart or SequenceStart:
                        if (++depth > MaxDepth)
                        {
                            context.Diagnostics.Add(new(DiagnosticSeverity.Error, context.File, null, null,
                                $"nests deeper than {MaxDepth} levels", (int)parser.Current.Start.Line));
                            return false;
                        }
                        break;
                    case MappingEnd or SequenceEnd:
                        depth--;
                        break;
                    case AnchorAlias alias:
                        context.Diagnostics.Add(new(DiagnosticSeverity.Error, context.File, null, null,
                            $"uses the YAML alias '*{alias.Value}'; anchors and aliases are not accepted", (int)alias.Start.Line));
                        return false;
                }
            }
            return true;
        }
        catch (YamlException ex)
        {
            context.Diagnostics.Add(new(DiagnosticSeverity.Error, context.File, null, null, $"is not valid YAML: {ex.Message}", (int)ex.Start.Line));
            return false;
        }
        catch (InvalidOperationException ex)
        {
            // YamlDotNet's parser throws this (not a YamlException) for some broken streams, e.g. "...\n%YAML 1.1\n".
            var line = parser.Current is { } current ? (int)Math.Max(1, current.End.Line) : 1;
            context.Diagnostics.Add(new(DiagnosticSeverity.Error, context.File, null, null, $"is not valid YAML: {ex.Message}", line));
            return false;
        }
    }

    private static IstioResource? ParseResource(YamlFields doc)
    {
        var context = doc.Context;
        var apiVersion = doc.String("apiVersion", required: true);
        var kind = doc.String("kind", required: true);
        var metadata = doc.Map("metadata", required: true);
        string? name = null;
        string? ns = null;
        if (metadata is not null)
        {
            name = metadata.String("name", required: true);
            ns = metadata.String("namespace");
            metadata.StringMap("labels");
            metadata.StringMap("annotations");
            metadata.Accept("generation", "resourceVersion", "uid", "creationTimestamp", "managedFields");
            metadata.RejectUnknown();
            if (name is not null && !ResourceName().IsMatch(name))
            {
                context.Error("metadata.name", $"'{name}' is not a valid Kubernetes name (lower case letters, digits, '-' and '.')", metadata.Node);
            }
        }
        context.Resource = kind is null ? null : $"{kind} '{name ?? "?"}'";

        // Any well-formed version of the group loads; one the declared Istio does not serve is the analyzer's error
        // (IstioAnalyzer knows the version), so that check can name what that version serves.
        if (apiVersion is not null && kind is not null && !ApiVersionOfGroup().IsMatch(apiVersion))
        {
            context.Error("apiVersion", apiVersion.StartsWith(ApiGroup + "/", StringComparison.Ordinal)
                ? $"'{apiVersion}' is not a version of {ApiGroup}; use {CurrentApiVersion}"
                : RefusedFields.ApiVersion.MessageFor(apiVersion), doc.NodeOf("apiVersion"));
            return null;
        }

        if (apiVersion is not null && OlderApiVersions.Contains(apiVersion))
        {
            context.Warning("apiVersion", $"'{apiVersion}' is an older API version; use {CurrentApiVersion}", doc.NodeOf("apiVersion"));
        }

        var spec = doc.Map("spec", required: true);
        doc.Accept("status");
        doc.RejectUnknown();
        if (kind is null || name is null || spec is null)
        {
            return null;
        }

        var id = new ResourceId(kind, name, ns, context.File) { ApiVersion = apiVersion ?? "" };
        IstioResource? resource = kind switch
        {
            "ServiceEntry" => ParseServiceEntry(id, spec),
            "Gateway" => ParseGateway(id, spec),
            "DestinationRule" => ParseDestinationRule(id, spec),
            "VirtualService" => ParseVirtualService(id, spec),
            "Sidecar" => ParseSidecar(id, spec),
            _ => null,
        };
        if (resource is null && kind is not ("ServiceEntry" or "Gateway" or "DestinationRule" or "VirtualService" or "Sidecar"))
        {
            context.Error("kind", RefusedFields.Kind.MessageFor(kind), doc.NodeOf("kind"));
            return null;
        }
        spec.RejectUnknown();
        return resource;
    }
}
