using System.Globalization;
using System.Text;
using System.Text.Json;

namespace Demo.EgressGateway.Istio.Schema;

/// <summary>
/// Checks a document against an Istio CRD schema as the Kubernetes API server does before Istio's webhook sees it
/// (apiextensions-apiserver: OpenAPI v3 validation, then the CEL rules) — types, enums, ranges, lengths, item counts,
/// required fields and protobuf oneofs — and refuses the fields the schema does not name (<c>kubectl apply</c>'s
/// strict field validation; the CRDs have no <c>additionalProperties: false</c>, so names are checked against
/// <c>properties</c>). Each finding names the field's path (<c>spec.http[0].route[1].weight</c>) and the value.
/// </summary>
/// <remarks>
/// A walker rather than JsonSchema.Net: its output locates errors by JSON pointer and keyword, with texts of its own,
/// and knows neither unknown fields nor CEL; this one walks the compiled schema once per document, in document order,
/// and words each finding as the rest of the loader does.
/// </remarks>
internal sealed class SchemaValidator
{
    private readonly Findings _findings;
    private readonly List<(string? Key, int Index)> _path = [];

    private SchemaValidator(Findings findings, string root)
    {
        _findings = findings;
        _path.Add((root, 0));
    }

    /// <summary>Reports every way <paramref name="value"/> (at <paramref name="path"/>) does not match <paramref name="schema"/>.</summary>
    public static void Validate(JsonElement value, SchemaNode schema, string path, Findings findings) =>
        new SchemaValidator(findings, path).Node(value, schema);

    private string Path
    {
        get
        {
            var text = new StringBuilder();
            foreach (var (key, index) in _path)
            {
                _ = key is null ? text.Append('[').Append(index).Append(']') : (text.Length > 0 ? text.Append('.') : text).Append(key);
            }
            return text.ToString();
        }
    }

    private string Child(string key) => Path is { Length: > 0 } path ? $"{path}.{key}" : key;

    private void Error(string message) => _findings.Error(Path, message);

    // Null is no value: Kubernetes prunes a null field before it validates (apiextensions-apiserver, nullable: false).
    private void Node(JsonElement value, SchemaNode schema)
    {
        if (value.ValueKind is JsonValueKind.Null or JsonValueKind.Undefined || !HasType(value, schema))
        {
            return;
        }
        switch (value.ValueKind)
        {
            case JsonValueKind.Object:
                Object(value, schema);
                break;
            case JsonValueKind.Array:
                Array(value, schema);
                break;
            default:
                Scalar(value, schema);
                break;
        }
        foreach (var rule in schema.Rules)
        {
            if (rule.Check?.Invoke(value, rule.Message) is { } message)
            {
                Error(message);
            }
        }
    }

    private bool HasType(JsonElement value, SchemaNode schema)
    {
        var kind = value.ValueKind;
        var ok = schema.IntOrString
            ? kind == JsonValueKind.String || IsInteger(value)
            : schema.Type switch
            {
                SchemaType.Object => kind == JsonValueKind.Object,
                SchemaType.Array => kind == JsonValueKind.Array,
                SchemaType.String => kind == JsonValueKind.String,
                SchemaType.Integer => IsInteger(value),
                SchemaType.Number => kind == JsonValueKind.Number,
                SchemaType.Boolean => kind is JsonValueKind.True or JsonValueKind.False,
                _ => true,
            };
        if (!ok)
        {
            var expected = schema.IntOrString ? "an integer or a string" : schema.Type switch
            {
                SchemaType.Object => "an object",
                SchemaType.Array => "a list",
                SchemaType.String => "a string",
                SchemaType.Integer => "an integer",
                SchemaType.Number => "a number",
                _ => "true or false",
            };
            Error($"must be {expected}, got {Show(value)}");
        }
        return ok;
    }

    private static bool IsInteger(JsonElement value) => value.ValueKind == JsonValueKind.Number && value.TryGetInt64(out _);

    private static bool IsSet(JsonElement map, string name) => map.TryGetProperty(name, out var value) && value.ValueKind != JsonValueKind.Null;

    private void Object(JsonElement map, SchemaNode schema)
    {
        var count = 0;
        foreach (var member in map.EnumerateObject())
        {
            count++;
            var property = schema.Properties?.GetValueOrDefault(member.Name) ?? schema.AdditionalProperties;
            if (property is null)
            {
                if (!schema.PreserveUnknownFields)
                {
                    UnknownField(member.Name, schema);
                }
                continue;
            }
            _path.Add((member.Name, 0));
            Node(member.Value, property);
            _path.RemoveAt(_path.Count - 1);
        }
        foreach (var name in schema.Required)
        {
            if (!IsSet(map, name))
            {
                _findings.Error(Child(name), "is required");
            }
        }
        foreach (var group in schema.OneOf)
        {
            var setCount = 0;
            foreach (var name in group)
            {
                setCount += IsSet(map, name) ? 1 : 0;
            }
            if (setCount > 1)
            {
                Error($"may set only one of {Or(group, "and")} (a protobuf oneof), got {string.Join(" and ", group.Where(name => IsSet(map, name)))}");
            }
        }
        if (count > schema.MaxProperties)
        {
            Error($"has {count} entries; at most {schema.MaxProperties} are accepted");
        }
    }

    private void UnknownField(string name, SchemaNode schema)
    {
        var suggestion = ((IEnumerable<string>?)schema.Properties?.Keys ?? []).Select(known => (known, distance: EditDistance(known, name)))
            .Where(c => c.distance <= 2).OrderBy(c => c.distance).Select(c => c.known).FirstOrDefault();
        _findings.Error(Child(name), suggestion is null
            ? "is not a field of this object"
            : $"is not a field of this object (did you mean '{suggestion}'?)");
    }

    private void Array(JsonElement list, SchemaNode schema)
    {
        var count = list.GetArrayLength();
        if (count > schema.MaxItems)
        {
            Error($"has {count} items; at most {schema.MaxItems} are accepted");
            return;
        }
        if (count < schema.MinItems)
        {
            Error(count == 0 ? "must not be empty" : $"has {count} items; at least {schema.MinItems} are required");
        }
        var keys = schema.ListMapKeys is not null ? new Dictionary<string, int>(StringComparer.Ordinal) : null;
        var i = 0;
        foreach (var item in list.EnumerateArray())
        {
            _path.Add((null, i));
            if (item.ValueKind == JsonValueKind.Null)
            {
                Error($"must be {(schema.Items?.Type == SchemaType.Object ? "an object" : "a value")}, got null");
            }
            else if (schema.Items is { } items)
            {
                Node(item, items);
            }
            if (keys is not null && item.ValueKind == JsonValueKind.Object)
            {
                var key = string.Join("/", schema.ListMapKeys!.Select(k => item.TryGetProperty(k, out var v) ? v.GetRawText() : "null"));
                if (!keys.TryAdd(key, i))
                {
                    Error($"has the same {string.Join(" and ", schema.ListMapKeys!)} as item {keys[key]} ({key}); the list is keyed by it");
                }
            }
            _path.RemoveAt(_path.Count - 1);
            i++;
        }
    }

    private void Scalar(JsonElement value, SchemaNode schema)
    {
        if (value.ValueKind == JsonValueKind.String)
        {
            if (schema.Enum is null && schema.MaxLength is null && schema.MinLength is null && schema.Format != "byte")
            {
                return;
            }
            var text = value.GetString()!;
            if (schema.Enum is { } allowed && !allowed.Contains(text))
            {
                Error($"must be {Or(allowed, "or")}, got '{text}'");
            }
            if (text.Length > schema.MaxLength)
            {
                Error($"is {text.Length} characters long; at most {schema.MaxLength} are accepted");
            }
            if (text.Length < schema.MinLength)
            {
                Error(text.Length == 0 ? "must not be empty" : $"is {text.Length} characters long; at least {schema.MinLength} are required");
            }
            if (schema.Format == "byte" && !IsBase64(text))
            {
                Error("must be base64");
            }
            return;
        }
        if (value.ValueKind != JsonValueKind.Number)
        {
            return;
        }
        var number = value.TryGetInt64(out var integer) ? integer : value.GetDouble();
        var (min, max) = schema.Format == "int32" && schema.Type == SchemaType.Integer
            ? (schema.Minimum ?? int.MinValue, schema.Maximum ?? int.MaxValue)
            : (schema.Minimum, schema.Maximum);
        if (number < min || number > max)
        {
            Error(min is null ? $"must be at most {Show(max)}, got {Show(number)}"
                : max is null ? $"must be at least {Show(min)}, got {Show(number)}"
                : $"must be between {Show(min)} and {Show(max)}, got {Show(number)}");
        }
    }

    private static bool IsBase64(string text)
    {
        var buffer = new byte[text.Length];
        return Convert.TryFromBase64String(text, buffer, out _);
    }

    private static string Or(IReadOnlyList<string> names, string conjunction) =>
        names.Count == 1 ? names[0] : $"{string.Join(", ", names.Take(names.Count - 1))} {conjunction} {names[^1]}";

    private static string Show(double? value) => value?.ToString(CultureInfo.InvariantCulture) ?? "";

    /// <summary>A value as a message quotes it: <c>'50'</c>, <c>the string "50"</c>, <c>a list</c>, <c>an object</c>.</summary>
    internal static string Show(JsonElement value) => value.ValueKind switch
    {
        JsonValueKind.Object => "an object",
        JsonValueKind.Array => "a list",
        JsonValueKind.String => $"the string \"{Truncate(value.GetString()!)}\"",
        _ => $"'{Truncate(value.GetRawText())}'",
    };

    private static string Truncate(string value) => value.Length <= 64 ? value : value[..64] + "…";

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
