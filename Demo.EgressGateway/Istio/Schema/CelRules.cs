using System.Text.Json;
using System.Text.RegularExpressions;

namespace Demo.EgressGateway.Istio.Schema;

/// <summary>
/// A CEL rule of a CRD (<c>x-kubernetes-validations</c>): its text, Istio's message, and the C# that evaluates it
/// (null when the rule is not one <see cref="CelRules"/> knows: then it is not applied).
/// </summary>
/// <param name="Check">Given the node the rule is on, null when it holds, else the message to report.</param>
internal sealed record CelRule(string Rule, string Message, Func<JsonElement, string, string?>? Check);

/// <summary>
/// The CEL rules of Istio 1.30.3's networking CRDs, each evaluated as the API server's CEL would, keyed by the rule's
/// text (a rule whose text changes is no longer applied, and <c>IstioSchemaTests</c> fails until it is written
/// here). Istio/Schema/README.md lists them and where they bite.
/// </summary>
internal static partial class CelRules
{
    private static readonly Dictionary<string, Func<JsonElement, string, string?>> Known = new(StringComparer.Ordinal)
    {
        // Every protobuf Duration field (timeouts, intervals, ...): the value must parse and be at least 1ms.
        ["duration(self) >= duration('1ms')"] = (self, message) => Text(self) is { } text
            ? Durations.TryParse(text, out var value)
                ? value >= TimeSpan.FromMilliseconds(1) ? null : $"{message}, got '{text}'"
                : $"must be a duration such as 5s, 250ms or 1m30s, got '{text}'"
            : null,
        // ServiceEntry ports[].number and targetPort, endpoints[].ports values.
        ["0 < self && self <= 65535"] = (self, message) => Integer(self) is { } n && n is <= 0 or > 65535 ? $"{message}, got {n}" : null,
        // Gateway and Sidecar ServerTLSSettings: credentialName, credentialNames and tlsCertificates exclude each other.
        ["(has(self.tlsCertificates) ? 1 : 0) + (has(self.credentialNames) ? 1 : 0) <= 1"] = (self, message) =>
            Has(self, "tlsCertificates") && Has(self, "credentialNames") ? message : null,
        ["(has(self.credentialName) ? 1 : 0) + (has(self.credentialNames) ? 1 : 0) <= 1"] = (self, message) =>
            Has(self, "credentialName") && Has(self, "credentialNames") ? message : null,
        // Istio's own rule text checks credentialNames (not credentialName) against tlsCertificates; applied as written.
        ["(has(self.credentialNames) ? 1 : 0) + (has(self.tlsCertificates) ? 1 : 0) <= 1"] = (self, message) =>
            Has(self, "credentialNames") && Has(self, "tlsCertificates") ? message : null,
        // Workload selector labels (ServiceEntry, Sidecar) and DestinationRule workloadSelector.matchLabels.
        ["!self.contains(\"*\")"] = (self, message) => Text(self)?.Contains('*', StringComparison.Ordinal) == true ? $"{message}, got '{Text(self)}'" : null,
        ["self.all(key, !key.contains(\"*\"))"] = (self, message) => Keys(self).Any(k => k.Contains('*', StringComparison.Ordinal)) ? message : null,
        ["self.all(key, key.size() != 0)"] = (self, message) => Keys(self).Any(k => k.Length == 0) ? message : null,
        // ServiceEntry spec.
        ["(has(self.workloadSelector) ? 1 : 0) + (has(self.endpoints) ? 1 : 0) <= 1"] = (self, message) =>
            Has(self, "workloadSelector") && Has(self, "endpoints") ? message : null,
        ["!((has(self.addresses) ? self.addresses : []).exists(k, k.contains(\"/\")) && !((has(self.resolution) ? self.resolution : \"NONE\") in [\"STATIC\", \"NONE\"]))"] =
            (self, message) => Strings(Get(self, "addresses")).Any(a => a.Contains('/', StringComparison.Ordinal))
                && (Text(Get(self, "resolution")) ?? "NONE") is not ("STATIC" or "NONE") ? message : null,
        ["((has(self.resolution) ? self.resolution : \"NONE\") == \"NONE\") ? !has(self.endpoints) : true"] = (self, message) =>
            (Text(Get(self, "resolution")) ?? "NONE") == "NONE" && Has(self, "endpoints") ? message : null,
        ["((has(self.resolution) ? self.resolution : \"\") == \"DNS_ROUND_ROBIN\") ? ((has(self.endpoints) ? self.endpoints : []).size() <= 1) : true"] =
            (self, message) => Text(Get(self, "resolution")) == "DNS_ROUND_ROBIN" && Get(self, "endpoints") is { ValueKind: JsonValueKind.Array } endpoints && endpoints.GetArrayLength() > 1 ? message : null,
        // ServiceEntry endpoints[].
        ["has(self.address) || has(self.network)"] = (self, message) => !Has(self, "address") && !Has(self, "network") ? message : null,
        ["(has(self.address) ? self.address : \"\").startsWith(\"unix://\") ? !has(self.ports) : true"] = (self, message) =>
            (Text(Get(self, "address")) ?? "").StartsWith("unix://", StringComparison.Ordinal) && Has(self, "ports") ? message : null,
        ["self.startsWith(\"unix://\") ? (self.substring(7, 8) == \"/\" || self.substring(7, 8) == \"@\") : true"] = (self, message) =>
            Text(self) is { } address && address.StartsWith("unix://", StringComparison.Ordinal) && (address.Length < 8 || address[7] is not ('/' or '@'))
                ? $"{message}, got '{address}'" : null,
        ["self.startsWith(\"unix://\") ? !self.endsWith(\"/\") : true"] = (self, message) =>
            Text(self) is { } address && address.StartsWith("unix://", StringComparison.Ordinal) && address.EndsWith('/') ? $"{message}, got '{address}'" : null,
        ["self.all(key, size(key) < 63 && key.matches(\"^[a-zA-Z0-9](?:[-a-zA-Z0-9]*[a-zA-Z0-9])?$\"))"] = (self, message) =>
            Keys(self).FirstOrDefault(k => k.Length >= 63 || !PortName().IsMatch(k)) is { } bad ? $"{message}, got '{bad}'" : null,
        // ServiceEntry hosts[].
        ["self != \"*\""] = (self, message) => Text(self) == "*" ? message : null,
        // ServiceEntry ports (a list keyed by name): no two ports share a number.
        ["self.all(l1, self.exists_one(l2, l1.number == l2.number))"] = (self, message) =>
            self.ValueKind == JsonValueKind.Array && self.EnumerateArray().Select(p => Integer(Get(p, "number"))).OfType<long>().GroupBy(n => n).FirstOrDefault(g => g.Count() > 1) is { } twice
                ? $"{message}, got {twice.Key} twice" : null,
    };

    [GeneratedRegex("^[a-zA-Z0-9](?:[-a-zA-Z0-9]*[a-zA-Z0-9])?$", RegexOptions.CultureInvariant)]
    private static partial Regex PortName();

    /// <summary>The rule with its implementation, or without one when the text is not known here.</summary>
    public static CelRule Compile(string rule, string message) => new(rule, message, Known.GetValueOrDefault(rule));

    private static JsonElement? Get(JsonElement self, string field) =>
        self.ValueKind == JsonValueKind.Object && self.TryGetProperty(field, out var value) && value.ValueKind != JsonValueKind.Null ? value : null;

    private static bool Has(JsonElement self, string field) => Get(self, field) is not null;

    private static string? Text(JsonElement? node) => node is { ValueKind: JsonValueKind.String } value ? value.GetString() : null;

    private static long? Integer(JsonElement? node) => node is { ValueKind: JsonValueKind.Number } value && value.TryGetInt64(out var n) ? n : null;

    private static IEnumerable<string> Keys(JsonElement self) =>
        self.ValueKind == JsonValueKind.Object ? self.EnumerateObject().Select(p => p.Name) : [];

    private static IEnumerable<string> Strings(JsonElement? node) =>
        node is { ValueKind: JsonValueKind.Array } list ? list.EnumerateArray().Select(e => Text(e)).OfType<string>() : [];
}
