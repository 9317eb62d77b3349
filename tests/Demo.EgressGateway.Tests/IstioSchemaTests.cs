using System.Text.Json.Serialization.Metadata;
using Demo.EgressGateway.Istio;
using Demo.EgressGateway.Istio.Schema;
using Api = Demo.EgressGateway.Istio.Api;

namespace Demo.EgressGateway.Tests;

/// <summary>
/// The embedded schema (Istio/Schema/istio-networking.schema.json) and what the loader does with it: every kind
/// compiles, every CEL rule has its implementation, and every field of every kind's schema is read into the Istio API
/// records, refused (<see cref="RefusedFields"/>) or accepted with no local effect (<see cref="InertFields"/>) — so
/// nothing Istio accepts is silently ignored.
/// </summary>
public sealed class IstioSchemaTests
{
    private static readonly Dictionary<string, Type> ApiRecords = new()
    {
        ["ServiceEntry"] = typeof(Api.ServiceEntry),
        ["Gateway"] = typeof(Api.Gateway),
        ["DestinationRule"] = typeof(Api.DestinationRule),
        ["VirtualService"] = typeof(Api.VirtualService),
        ["Sidecar"] = typeof(Api.Sidecar),
    };

    [Fact]
    public void The_schema_has_the_five_kinds_in_the_three_versions_Istio_serves_them()
    {
        Assert.Equal("1.30.3", IstioSchema.Release);
        Assert.Equal(["ServiceEntry", "Gateway", "DestinationRule", "VirtualService", "Sidecar"], IstioSchema.Kinds);
        Assert.All(IstioSchema.Kinds, kind => Assert.Equal(["v1", "v1alpha3", "v1beta1"], IstioSchema.Versions(kind).Order(StringComparer.Ordinal)));
        Assert.All(IstioSchema.Kinds, kind => Assert.True(IstioVersion.Newest.ServedVersions(CrdGroup).ToHashSet().SetEquals(IstioSchema.Versions(kind))));
    }

    private const string CrdGroup = "networking.istio.io";

    [Fact]
    public void Every_CEL_rule_of_the_schema_is_applied()
    {
        var rules = IstioSchema.AllRules().ToList();

        Assert.NotEmpty(rules);
        Assert.Empty(rules.Where(r => r.Rule.Check is null).Select(r => $"{r.Kind} {r.Path}: {r.Rule.Rule}"));
    }

    [Fact]
    public void Every_field_of_the_schema_is_read_refused_or_inert()
    {
        var unaccounted = new List<string>();
        foreach (var (kind, type) in ApiRecords)
        {
            var schema = IstioSchema.Spec(kind, "v1")!;
            var refused = RefusedFields.All.Where(f => f.Kind == kind).SelectMany(RefusedFields.Places).ToHashSet(StringComparer.Ordinal);
            var inert = InertFields.All.Where(f => f.Kind == kind).SelectMany(f => RefusedFields.PlacesOf(f.Kind, f.Field)).ToHashSet(StringComparer.Ordinal);
            Walk(schema, Api.IstioApiJson.Default.GetTypeInfo(type)!, "spec", refused, inert, unaccounted);
        }

        Assert.True(unaccounted.Count == 0, "neither read, refused nor inert:\n" + string.Join("\n", unaccounted));
    }

    private static void Walk(SchemaNode schema, JsonTypeInfo? type, string path, HashSet<string> refused, HashSet<string> inert, List<string> unaccounted)
    {
        if (refused.Contains(path) || inert.Contains(path))
        {
            return;
        }
        // A list or a map: its items, read as the record's element type.
        if (schema.Items is { } items)
        {
            Walk(items, Element(type), path + "[]", refused, inert, unaccounted);
        }
        if (schema.AdditionalProperties is { } values && schema.Properties is null)
        {
            Walk(values, Element(type), path, refused, inert, unaccounted);
        }
        foreach (var (name, child) in schema.Properties ?? new Dictionary<string, SchemaNode>())
        {
            var field = $"{path}.{name}";
            var property = type?.Properties.FirstOrDefault(p => p.Name == name);
            if (property is null && !refused.Contains(field) && !inert.Contains(field))
            {
                unaccounted.Add(field);
                continue;
            }
            Walk(child, property is null ? null : Api.IstioApiJson.Default.GetTypeInfo(property.PropertyType), field, refused, inert, unaccounted);
        }
    }

    private static JsonTypeInfo? Element(JsonTypeInfo? type) =>
        type?.ElementType is { } element ? Api.IstioApiJson.Default.GetTypeInfo(element) : null;
}
