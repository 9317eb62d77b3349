using System.Globalization;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace Demo.EgressGateway.Istio;

/// <summary>Collects the diagnostics of one file while its documents are read.</summary>
internal sealed class YamlReadContext(string file)
{
    public string File { get; } = file;
    public string? Resource { get; set; }
    public List<ConfigDiagnostic> Diagnostics { get; } = [];

    public void Error(string field, string message, YamlNode? node) =>
        Diagnostics.Add(new ConfigDiagnostic(DiagnosticSeverity.Error, File, Resource, field, message, Line(node)));

    public void Warning(string field, string message, YamlNode? node) =>
        Diagnostics.Add(new ConfigDiagnostic(DiagnosticSeverity.Warning, File, Resource, field, message, Line(node)));

    private static int? Line(YamlNode? node) => node is null || node.Start.Line <= 0 ? null : (int)node.Start.Line;
}

/// <summary>
/// Reads one YAML mapping field by field, the way the Kubernetes API server would: wrong types, values out of
/// range and unknown fields are reported with their path (<c>spec.http[0].route[1].weight</c>).
/// </summary>
internal sealed class YamlFields
{
    private const int MaxStringLength = 4096;
    private readonly YamlMappingNode _node;
    private readonly Dictionary<string, (YamlNode Key, YamlNode Value)> _entries = new(StringComparer.Ordinal);
    private readonly HashSet<string> _consumed = new(StringComparer.Ordinal);

    public YamlFields(YamlMappingNode node, string path, YamlReadContext context)
    {
        _node = node;
        Path = path;
        Context = context;
        foreach (var (key, value) in node.Children)
        {
            if (key is not YamlScalarNode { Value: { } name })
            {
                context.Error(path, "has a key that is not a plain string", key);
                continue;
            }
            if (!_entries.TryAdd(name, (key, value)))
            {
                context.Error(Join(name), "appears twice", key);
            }
        }
    }

    public string Path { get; }
    public YamlReadContext Context { get; }
    public YamlNode Node => _node;

    public string Join(string key) => Path.Length == 0 ? key : $"{Path}.{key}";

    /// <summary>The node of a field (for the line of a diagnostic), or the whole object when the field is absent.</summary>
    public YamlNode NodeOf(string key) => _entries.TryGetValue(key, out var entry) ? entry.Key : _node;

    private YamlNode? Take(string key)
    {
        _consumed.Add(key);
        return _entries.TryGetValue(key, out var entry) && !IsNull(entry.Value) ? entry.Value : null;
    }

    private static bool IsNull(YamlNode node) =>
        node is YamlScalarNode { Style: ScalarStyle.Plain or ScalarStyle.Any } scalar
        && (scalar.Value is null or "" or "~" or "null" or "Null" or "NULL");

    public string? String(string key, bool required = false)
    {
        var node = Take(key);
        if (node is null)
        {
            if (required)
            {
                Context.Error(Join(key), "is required", _node);
            }
            return null;
        }
        if (node is not YamlScalarNode scalar)
        {
            Context.Error(Join(key), $"must be a string, not a {Describe(node)}", node);
            return null;
        }
        var value = scalar.Value ?? "";
        if (value.Length > MaxStringLength)
        {
            Context.Error(Join(key), $"is {value.Length} characters long; at most {MaxStringLength} are accepted", node);
            return null;
        }
        if (required && value.Length == 0)
        {
            Context.Error(Join(key), "must not be empty", node);
            return null;
        }
        return value;
    }

    public int? Int(string key, long min, long max, bool required = false)
    {
        var node = Take(key);
        if (node is null)
        {
            if (required)
            {
                Context.Error(Join(key), "is required", _node);
            }
            return null;
        }
        if (node is not YamlScalarNode { Style: ScalarStyle.Plain } scalar
            || !long.TryParse(scalar.Value, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var value))
        {
            Context.Error(Join(key), $"must be an integer, got {Show(node)}", node);
            return null;
        }
        if (value < min || value > max)
        {
            Context.Error(Join(key), $"must be between {min} and {max}, got {value}", node);
            return null;
        }
        return (int)value;
    }

    public double? Double(string key, double min, double max)
    {
        var node = Take(key);
        if (node is null)
        {
            return null;
        }
        if (node is not YamlScalarNode { Style: ScalarStyle.Plain } scalar
            || !double.TryParse(scalar.Value, NumberStyles.Float, CultureInfo.InvariantCulture, out var value)
            || !double.IsFinite(value))
        {
            Context.Error(Join(key), $"must be a number, got {Show(node)}", node);
            return null;
        }
        if (value < min || value > max)
        {
            Context.Error(Join(key), $"must be between {min.ToString(CultureInfo.InvariantCulture)} and {max.ToString(CultureInfo.InvariantCulture)}, got {value.ToString(CultureInfo.InvariantCulture)}", node);
            return null;
        }
        return value;
    }

    public bool? Bool(string key)
    {
        var node = Take(key);
        if (node is null)
        {
            return null;
        }
        if (node is YamlScalarNode { Style: ScalarStyle.Plain, Value: "true" or "false" } scalar)
        {
            return scalar.Value == "true";
        }
        Context.Error(Join(key), $"must be true or false, got {Show(node)}", node);
        return null;
    }

    /// <summary>A protobuf duration such as <c>5s</c>; <paramref name="min"/> as Istio's CEL rules require.</summary>
    public TimeSpan? Duration(string key, TimeSpan min)
    {
        var node = Take(key);
        if (node is null)
        {
            return null;
        }
        if (node is not YamlScalarNode scalar || !Durations.TryParse(scalar.Value ?? "", out var value))
        {
            Context.Error(Join(key), $"must be a duration such as 5s, 250ms or 1m30s, got {Show(node)}", node);
            return null;
        }
        if (value < min)
        {
            Context.Error(Join(key), $"must be at least {Format(min)}, got '{scalar.Value}'", node);
            return null;
        }
        return value;
    }

    public YamlFields? Map(string key, bool required = false)
    {
        var node = Take(key);
        if (node is null)
        {
            if (required)
            {
                Context.Error(Join(key), "is required", _node);
            }
            return null;
        }
        if (node is not YamlMappingNode mapping)
        {
            Context.Error(Join(key), $"must be an object, not a {Describe(node)}", node);
            return null;
        }
        return new YamlFields(mapping, Join(key), Context);
    }

    public List<YamlFields> MapList(string key, bool required = false, int maxItems = 256)
    {
        var result = new List<YamlFields>();
        foreach (var (item, path) in Sequence(key, required, maxItems))
        {
            if (item is YamlMappingNode mapping)
            {
                result.Add(new YamlFields(mapping, path, Context));
            }
            else
            {
                Context.Error(path, $"must be an object, not a {Describe(item)}", item);
            }
        }
        return result;
    }

    public List<string> StringList(string key, bool required = false, int maxItems = 256)
    {
        var result = new List<string>();
        foreach (var (item, path) in Sequence(key, required, maxItems))
        {
            if (item is YamlScalarNode { Value: { Length: > 0 and <= MaxStringLength } value })
            {
                result.Add(value);
            }
            else
            {
                Context.Error(path, $"must be a non-empty string, got {Show(item)}", item);
            }
        }
        return result;
    }

    public List<KeyValuePair<string, string>> StringMap(string key)
    {
        var result = new List<KeyValuePair<string, string>>();
        var map = Map(key);
        if (map is null)
        {
            return result;
        }
        foreach (var name in map._entries.Keys)
        {
            var value = map.String(name, required: false);
            if (value is not null)
            {
                result.Add(new(name, value));
            }
        }
        return result;
    }

    /// <summary>A map of name → object, e.g. <c>headers: {end-user: {exact: jason}}</c>.</summary>
    public List<(string Name, YamlFields Value)> ObjectMap(string key)
    {
        var result = new List<(string, YamlFields)>();
        var map = Map(key);
        if (map is null)
        {
            return result;
        }
        foreach (var name in map._entries.Keys.ToList())
        {
            if (map.Map(name) is { } value)
            {
                result.Add((name, value));
            }
        }
        return result;
    }

    private IEnumerable<(YamlNode Item, string Path)> Sequence(string key, bool required, int maxItems)
    {
        var node = Take(key);
        if (node is null)
        {
            if (required)
            {
                Context.Error(Join(key), "is required", _node);
            }
            yield break;
        }
        if (node is not YamlSequenceNode sequence)
        {
            Context.Error(Join(key), $"must be a list, not a {Describe(node)}", node);
            yield break;
        }
        if (sequence.Children.Count > maxItems)
        {
            Context.Error(Join(key), $"has {sequence.Children.Count} items; at most {maxItems} are accepted", node);
            yield break;
        }
        if (required && sequence.Children.Count == 0)
        {
            Context.Error(Join(key), "must not be empty", node);
        }
        for (var i = 0; i < sequence.Children.Count; i++)
        {
            yield return (sequence.Children[i], $"{Join(key)}[{i}]");
        }
    }

    /// <summary>Fields Istio defines that change nothing on one machine: accepted and not used.</summary>
    /// <summary>Marks a field Istio accepts that changes nothing locally (<see cref="InertFields"/>) as read.</summary>
    public void Accept(InertField field) => _consumed.Add(field.Key);

    public void Accept(params string[] keys)
    {
        foreach (var key in keys)
        {
            _consumed.Add(key);
        }
    }

    /// <summary>
    /// A field Istio defines whose behaviour the local gateway does not reproduce: refused when present, whatever its
    /// value. Only fields of <see cref="RefusedFields"/> can be refused, so that list (and the documentation's table
    /// checked against it) is complete.
    /// </summary>
    public void Refuse(RefusedField field)
    {
        var key = field.Key;
        _consumed.Add(key);
        if (_entries.TryGetValue(key, out var entry))
        {
            Context.Error(Join(key), field.Message, entry.Key);
        }
    }

    /// <summary>Refuses the value <paramref name="value"/> of <paramref name="field"/>, which the caller found to be one it refuses.</summary>
    public void RefuseValue(RefusedField field, string value) =>
        Context.Error(Join(field.Key), field.MessageFor(value), NodeOf(field.Key));

    /// <summary>Reports every field that no reader asked for.</summary>
    public void RejectUnknown()
    {
        foreach (var (name, (key, _)) in _entries)
        {
            if (_consumed.Contains(name))
            {
                continue;
            }
            var suggestion = _consumed.Where(c => EditDistance(c, name) <= 2).OrderBy(c => EditDistance(c, name)).FirstOrDefault();
            Context.Error(Join(name), suggestion is null
                ? "is not a field of this object"
                : $"is not a field of this object (did you mean '{suggestion}'?)", key);
        }
    }

    private static string Describe(YamlNode node) => node switch
    {
        YamlMappingNode => "object",
        YamlSequenceNode => "list",
        _ => "string",
    };

    private static string Show(YamlNode node) => node switch
    {
        YamlScalarNode { Style: ScalarStyle.SingleQuoted or ScalarStyle.DoubleQuoted } s => $"the string \"{Truncate(s.Value)}\"",
        YamlScalarNode s => $"'{Truncate(s.Value)}'",
        _ => $"a {Describe(node)}",
    };

    private static string Truncate(string? value) =>
        value is null ? "" : value.Length <= 64 ? value : value[..64] + "…";

    public static string Format(TimeSpan value) =>
        value.TotalMilliseconds < 1000 ? $"{value.TotalMilliseconds:0.###}ms" : $"{value.TotalSeconds:0.###}s";

    private static int EditDistance(string a, string b)
    {
        if (Math.Abs(a.Length - b.Length) > 2)
        {
            return 3;
        }
        var previous = new int[b.Length + 1];
        var current = new int[b.Length + 1];
        for (var j = 0; j <= b.Length; j++)
        {
            previous[j] = j;
        }
        for (var i = 1; i <= a.Length; i++)
        {
            current[0] = i;
            for (var j = 1; j <= b.Length; j++)
            {
                var cost = char.ToLowerInvariant(a[i - 1]) == char.ToLowerInvariant(b[j - 1]) ? 0 : 1;
                current[j] = Math.Min(Math.Min(current[j - 1] + 1, previous[j] + 1), previous[j - 1] + cost);
            }
            (previous, current) = (current, previous);
        }
        return previous[b.Length];
    }
}
