using System.Collections;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.Json.Serialization.Metadata;

namespace Demo.EgressGateway.Envoy;

/// <summary>
/// System.Text.Json options that write the Envoy records as protobuf's JSON mapping writes Envoy's protos (what
/// <c>/config_dump</c> and <c>istioctl proxy-config … -o json</c> show): snake_case field names; a null message or
/// wrapper (<c>google.protobuf.BoolValue</c>, <c>UInt32Value</c> — nullable here) and an empty repeated field or map
/// left out; a plain <c>bool</c> left out when false (proto3's default); numbers and enum names (strings) written as
/// they are; <c>google.protobuf.Duration</c> as seconds with up to 9 decimals and an <c>s</c> (<c>"15s"</c>,
/// <c>"0.025s"</c>); <c>bytes</c> as base64. An <c>Any</c>'s type URL is the record's <c>@type</c> property.
/// </summary>
public static class ProtoJson
{
    /// <summary>Indented output, for the admin endpoint.</summary>
    public static readonly JsonSerializerOptions Indented = Create(indented: true);

    /// <summary>Compact output, to compare definitions (<see cref="ConfigDump.WriteClusterJson"/>).</summary>
    public static readonly JsonSerializerOptions Compact = Create(indented: false);

    /// <summary>protobuf JSON for google.protobuf.Duration: seconds with up to 9 decimals and an <c>s</c>.</summary>
    public static string Duration(TimeSpan value) =>
        value.TotalSeconds.ToString("0.#########", CultureInfo.InvariantCulture) + "s";

    private static JsonSerializerOptions Create(bool indented)
    {
        var options = new JsonSerializerOptions
        {
            WriteIndented = indented,
            PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
            DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
            TypeInfoResolver = new DefaultJsonTypeInfoResolver { Modifiers = { LeaveOutProto3Defaults } },
        };
        options.Converters.Add(new DurationConverter());
        options.MakeReadOnly();
        return options;
    }

    private static void LeaveOutProto3Defaults(JsonTypeInfo type)
    {
        if (type.Kind != JsonTypeInfoKind.Object)
        {
            return;
        }
        foreach (var property in type.Properties)
        {
            if (property.PropertyType == typeof(bool))
            {
                property.ShouldSerialize = static (_, value) => value is true;
            }
            else if (property.PropertyType != typeof(string) && property.PropertyType != typeof(byte[])
                && typeof(IEnumerable).IsAssignableFrom(property.PropertyType))
            {
                property.ShouldSerialize = static (_, value) => value is IEnumerable items && items.GetEnumerator().MoveNext();
            }
        }
    }

    private sealed class DurationConverter : JsonConverter<TimeSpan>
    {
        public override TimeSpan Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
            TimeSpan.FromSeconds(double.Parse(reader.GetString()!.TrimEnd('s'), CultureInfo.InvariantCulture));

        public override void Write(Utf8JsonWriter writer, TimeSpan value, JsonSerializerOptions options) =>
            writer.WriteStringValue(Duration(value));
    }
}
