using System.Text.Json.Nodes;

namespace Demo.Deploy.Tests.Reachability;

/// <summary>
/// The Istio resources the reachability check evaluates, read from a render. Each reader names the fields it
/// understands and throws <see cref="NotSupportedException"/> on any other, so a field whose meaning the check
/// does not model can never be ignored silently.
/// </summary>
internal sealed record ServiceEntry(string Name, string Namespace, IReadOnlyList<string> Hosts, IReadOnlyList<string> ExportTo,
    IReadOnlyList<(int Number, string Protocol)> Ports, string Location, string Resolution, IReadOnlyList<string> Addresses);

internal sealed record HttpMatch(IReadOnlyList<string> Gateways, int? Port, string? AuthorityExact, string? AuthorityPrefix, bool HasOtherConditions);

internal sealed record RouteDestination(string Host, int? Port, string? Subset, string? SetHost);

internal sealed record HttpRoute(string? Name, IReadOnlyList<HttpMatch> Match, IReadOnlyList<RouteDestination> Route);

internal sealed record VirtualService(string Name, string Namespace, IReadOnlyList<string> Hosts, IReadOnlyList<string> Gateways,
    IReadOnlyList<string> ExportTo, IReadOnlyList<HttpRoute> Http);

internal sealed record ClientTls(string Mode, string? Sni);

internal sealed record DestinationRule(string Name, string Namespace, string Host, IReadOnlyList<string> ExportTo,
    IReadOnlyDictionary<int, ClientTls> PortTls, ClientTls? Tls, IReadOnlyDictionary<string, (IReadOnlyDictionary<int, ClientTls> PortTls, ClientTls? Tls)> Subsets);

internal sealed record GatewayServer(int Port, string Protocol, IReadOnlyList<string> Hosts, string? TlsMode);

internal sealed record Gateway(string Name, string Namespace, IReadOnlyDictionary<string, string> Selector, IReadOnlyList<GatewayServer> Servers);

internal sealed record Sidecar(string Name, string Namespace, IReadOnlyDictionary<string, string>? WorkloadSelector,
    IReadOnlyList<string> EgressHosts, string? OutboundTrafficPolicy);

internal sealed record PeerAuthentication(string Name, string Namespace, IReadOnlyDictionary<string, string>? Selector, string? Mode);

internal sealed record AuthorizationSource(IReadOnlyList<string>? Principals, IReadOnlyList<string>? NotPrincipals,
    IReadOnlyList<string>? Namespaces, IReadOnlyList<string>? NotNamespaces);

internal sealed record AuthorizationOperation(IReadOnlyList<string>? Hosts, IReadOnlyList<string>? NotHosts,
    IReadOnlyList<string>? Ports, IReadOnlyList<string>? NotPorts);

/// <summary>A <c>when</c> condition: <c>key</c> with <c>values</c> / <c>notValues</c>.</summary>
internal sealed record AuthorizationCondition(string Key, IReadOnlyList<string>? Values, IReadOnlyList<string>? NotValues);

internal sealed record AuthorizationRule(IReadOnlyList<AuthorizationSource>? From, IReadOnlyList<AuthorizationOperation>? To,
    IReadOnlyList<AuthorizationCondition>? When = null);

internal sealed record AuthorizationPolicy(string Name, string Namespace, IReadOnlyDictionary<string, string>? Selector, string Action,
    IReadOnlyList<AuthorizationRule> Rules);

internal sealed record TelemetryTracing(string Name, string Namespace, IReadOnlyDictionary<string, string>? Selector,
    IReadOnlyList<string> Providers, double? RandomSamplingPercentage, bool? DisableSpanReporting);

/// <summary>
/// The mesh config of the install (<c>meshConfig</c> of the IstioOperator): outbound policy (Istio's default ALLOW_ANY),
/// root namespace (default istio-system), the proxies' default metadata and the OpenTelemetry extension providers.
/// </summary>
internal sealed record MeshConfig(string OutboundTrafficPolicy, string RootNamespace,
    IReadOnlyDictionary<string, string> DefaultProxyMetadata, IReadOnlyDictionary<string, (string Service, int Port)> OpenTelemetryProviders)
{
    public static MeshConfig Parse(JsonObject? meshConfig)
    {
        meshConfig ??= [];
        Fields.Known(meshConfig, "meshConfig", "outboundTrafficPolicy", "rootNamespace", "defaultConfig", "extensionProviders", "enableTracing");
        var providers = new Dictionary<string, (string, int)>();
        foreach (var provider in meshConfig["extensionProviders"]?.AsArray() ?? [])
        {
            Fields.Known(provider!.AsObject(), "extensionProviders[]", "name", "opentelemetry");
            var otel = provider["opentelemetry"]?.AsObject() ?? throw new NotSupportedException("an extension provider other than opentelemetry");
            Fields.Known(otel, "opentelemetry", "service", "port", "grpc");
            providers[(string)provider["name"]!] = ((string)otel["service"]!, Fields.Int(otel["port"])!.Value);
        }
        var defaultConfig = meshConfig["defaultConfig"]?.AsObject() ?? [];
        Fields.Known(defaultConfig, "defaultConfig", "proxyMetadata");
        return new MeshConfig(
            (string?)meshConfig["outboundTrafficPolicy"]?["mode"] ?? "ALLOW_ANY",
            (string?)meshConfig["rootNamespace"] ?? "istio-system",
            defaultConfig["proxyMetadata"]?.AsObject().ToDictionary(kv => kv.Key, kv => kv.Value?.ToString() ?? "") ?? [],
            providers);
    }
}

/// <summary>All Istio resources of a render, by kind.</summary>
internal sealed class IstioConfig
{
    public List<ServiceEntry> ServiceEntries { get; } = [];
    public List<VirtualService> VirtualServices { get; } = [];
    public List<DestinationRule> DestinationRules { get; } = [];
    public List<Gateway> Gateways { get; } = [];
    public List<Sidecar> Sidecars { get; } = [];
    public List<PeerAuthentication> PeerAuthentications { get; } = [];
    public List<AuthorizationPolicy> AuthorizationPolicies { get; } = [];
    public List<TelemetryTracing> Telemetries { get; } = [];

    public static IstioConfig Read(IEnumerable<RenderedDocument> documents)
    {
        var config = new IstioConfig();
        foreach (var d in documents.Where(d => d.Group.EndsWith("istio.io", StringComparison.Ordinal)))
        {
            var ns = d.Namespace ?? throw new InvalidOperationException($"{d} has no namespace");
            var spec = d.Spec.AsObject();
            switch (d.Kind)
            {
                case "ServiceEntry":
                    Fields.Known(spec, d.ToString(), "hosts", "exportTo", "ports", "location", "resolution", "addresses");
                    config.ServiceEntries.Add(new(d.Name, ns, Fields.Strings(spec["hosts"]) ?? [], Fields.Strings(spec["exportTo"]) ?? ["*"],
                        spec["ports"]?.AsArray().Select(p => (Fields.Int(p!["number"])!.Value, (string)p["protocol"]!)).ToList() ?? [],
                        (string?)spec["location"] ?? "MESH_EXTERNAL", (string?)spec["resolution"] ?? "NONE", Fields.Strings(spec["addresses"]) ?? []));
                    break;
                case "VirtualService":
                    Fields.Known(spec, d.ToString(), "hosts", "gateways", "exportTo", "http");
                    config.VirtualServices.Add(new(d.Name, ns, Fields.Strings(spec["hosts"]) ?? [], Fields.Strings(spec["gateways"]) ?? [],
                        Fields.Strings(spec["exportTo"]) ?? ["*"], spec["http"]?.AsArray().Select(r => ReadRoute(r!.AsObject(), d.ToString())).ToList() ?? []));
                    break;
                case "DestinationRule":
                    Fields.Known(spec, d.ToString(), "host", "exportTo", "trafficPolicy", "subsets");
                    var (portTls, tls) = ReadTrafficPolicy(spec["trafficPolicy"]?.AsObject(), d.ToString());
                    config.DestinationRules.Add(new(d.Name, ns, (string)spec["host"]!, Fields.Strings(spec["exportTo"]) ?? ["*"], portTls, tls,
                        spec["subsets"]?.AsArray().ToDictionary(s => (string)s!["name"]!, s =>
                        {
                            Fields.Known(s!.AsObject(), d.ToString(), "name", "labels", "trafficPolicy");
                            return ReadTrafficPolicy(s["trafficPolicy"]?.AsObject(), d.ToString());
                        }) ?? []));
                    break;
                case "Gateway":
                    Fields.Known(spec, d.ToString(), "selector", "servers");
                    config.Gateways.Add(new(d.Name, ns, Fields.Map(spec["selector"]) ?? new Dictionary<string, string>(), spec["servers"]!.AsArray().Select(s =>
                    {
                        Fields.Known(s!.AsObject(), d.ToString(), "port", "hosts", "tls");
                        Fields.Known(s["tls"]?.AsObject() ?? [], d.ToString(), "mode");
                        return new GatewayServer(Fields.Int(s["port"]!["number"])!.Value, (string)s["port"]!["protocol"]!, Fields.Strings(s["hosts"])!, (string?)s["tls"]?["mode"]);
                    }).ToList()));
                    break;
                case "Sidecar":
                    Fields.Known(spec, d.ToString(), "workloadSelector", "egress", "outboundTrafficPolicy");
                    var egress = spec["egress"]?.AsArray() ?? [];
                    foreach (var listener in egress)
                    {
                        // port, bind and captureMode make listeners per port: not modelled.
                        Fields.Known(listener!.AsObject(), d.ToString(), "hosts");
                    }
                    Fields.Known(spec["outboundTrafficPolicy"]?.AsObject() ?? [], d.ToString(), "mode");
                    config.Sidecars.Add(new(d.Name, ns, Fields.Map(spec["workloadSelector"]?["labels"]),
                        egress.Count == 0 ? ["*/*"] : egress.SelectMany(l => Fields.Strings(l!["hosts"]) ?? []).ToList(),
                        (string?)spec["outboundTrafficPolicy"]?["mode"]));
                    break;
                case "PeerAuthentication":
                    Fields.Known(spec, d.ToString(), "selector", "mtls");
                    config.PeerAuthentications.Add(new(d.Name, ns, Fields.Map(spec["selector"]?["matchLabels"]), (string?)spec["mtls"]?["mode"]));
                    break;
                case "AuthorizationPolicy":
                    Fields.Known(spec, d.ToString(), "selector", "action", "rules");
                    config.AuthorizationPolicies.Add(new(d.Name, ns, Fields.Map(spec["selector"]?["matchLabels"]), (string?)spec["action"] ?? "ALLOW",
                        spec["rules"]?.AsArray().Select(r => ReadRule(r!.AsObject(), d.ToString())).ToList() ?? []));
                    break;
                case "Telemetry":
                    Fields.Known(spec, d.ToString(), "selector", "tracing");
                    foreach (var tracing in spec["tracing"]?.AsArray() ?? [])
                    {
                        Fields.Known(tracing!.AsObject(), d.ToString(), "providers", "randomSamplingPercentage", "disableSpanReporting");
                        config.Telemetries.Add(new(d.Name, ns, Fields.Map(spec["selector"]?["matchLabels"]),
                            tracing["providers"]?.AsArray().Select(p => (string)p!["name"]!).ToList() ?? [], Fields.Number(tracing["randomSamplingPercentage"]),
                            (bool?)tracing["disableSpanReporting"]));
                    }
                    break;
                default:
                    throw new NotSupportedException($"{d}: kind {d.Kind} is not modelled by the reachability check");
            }
        }
        return config;
    }

    private static HttpRoute ReadRoute(JsonObject route, string where)
    {
        // Only fields that decide where a request may go are modelled; the rest shape how it goes.
        Fields.Known(route, where, "name", "match", "route", "timeout", "retries", "fault", "headers");
        var matches = route["match"]?.AsArray().Select(m =>
        {
            var match = m!.AsObject();
            var other = match.Any(kv => kv.Key is not ("gateways" or "port" or "authority" or "name"));
            return new HttpMatch(Fields.Strings(match["gateways"]) ?? [], Fields.Int(match["port"]), (string?)match["authority"]?["exact"],
                (string?)match["authority"]?["prefix"], other || match["authority"]?.AsObject().Any(kv => kv.Key is not ("exact" or "prefix")) == true);
        }).ToList() ?? [];
        var destinations = route["route"]!.AsArray().Select(r =>
        {
            Fields.Known(r!.AsObject(), where, "destination", "weight", "headers");
            var destination = r["destination"]!;
            return new RouteDestination((string)destination["host"]!, Fields.Int(destination["port"]?["number"]), (string?)destination["subset"],
                (string?)r["headers"]?["request"]?["set"]?["host"]);
        }).ToList();
        return new HttpRoute((string?)route["name"], matches, destinations);
    }

    private static (IReadOnlyDictionary<int, ClientTls>, ClientTls?) ReadTrafficPolicy(JsonObject? policy, string where)
    {
        if (policy is null)
        {
            return (new Dictionary<int, ClientTls>(), null);
        }
        Fields.Known(policy, where, "tls", "portLevelSettings", "outlierDetection", "connectionPool", "loadBalancer");
        var ports = policy["portLevelSettings"]?.AsArray().Where(p => p!["tls"] is not null)
            .ToDictionary(p => Fields.Int(p!["port"]!["number"])!.Value, p => ReadTls(p!["tls"]!.AsObject())) ?? [];
        return (ports, policy["tls"] is JsonObject tls ? ReadTls(tls) : null);
    }

    private static ClientTls ReadTls(JsonObject tls) => new((string)tls["mode"]!, (string?)tls["sni"]);

    private static AuthorizationRule ReadRule(JsonObject rule, string where)
    {
        Fields.Known(rule, where, "from", "to", "when");
        return new AuthorizationRule(
            rule["from"]?.AsArray().Select(f =>
            {
                var source = f!["source"]!.AsObject();
                Fields.Known(source, where, "principals", "notPrincipals", "namespaces", "notNamespaces");
                return new AuthorizationSource(Fields.Strings(source["principals"]), Fields.Strings(source["notPrincipals"]),
                    Fields.Strings(source["namespaces"]), Fields.Strings(source["notNamespaces"]));
            }).ToList(),
            rule["to"]?.AsArray().Select(t =>
            {
                var operation = t!["operation"]!.AsObject();
                Fields.Known(operation, where, "hosts", "notHosts", "ports", "notPorts");
                return new AuthorizationOperation(Fields.Strings(operation["hosts"]), Fields.Strings(operation["notHosts"]),
                    Fields.Strings(operation["ports"]), Fields.Strings(operation["notPorts"]));
            }).ToList(),
            rule["when"]?.AsArray().Select(w =>
            {
                var condition = w!.AsObject();
                Fields.Known(condition, where, "key", "values", "notValues");
                var key = (string)condition["key"]!;
                return key == "connection.sni"
                    ? new AuthorizationCondition(key, Fields.Strings(condition["values"]), Fields.Strings(condition["notValues"]))
                    : throw new NotSupportedException($"{where}: the condition '{key}' is not modelled (only connection.sni)");
            }).ToList());
    }
}

internal static class Fields
{
    public static void Known(JsonObject node, string where, params string[] known)
    {
        var unknown = node.Select(kv => kv.Key).Where(k => !known.Contains(k)).ToList();
        if (unknown.Count > 0)
        {
            throw new NotSupportedException($"{where}: field(s) {string.Join(", ", unknown)} not modelled by the reachability check");
        }
    }

    public static int? Int(JsonNode? node) => node is null ? null : int.Parse(node.ToJsonString(), System.Globalization.CultureInfo.InvariantCulture);

    public static double? Number(JsonNode? node) => node is null ? null : double.Parse(node.ToJsonString(), System.Globalization.CultureInfo.InvariantCulture);

    public static IReadOnlyList<string>? Strings(JsonNode? node) => node?.AsArray().Select(n => (string)n!).ToList();

    public static IReadOnlyDictionary<string, string>? Map(JsonNode? node) => node?.AsObject().ToDictionary(kv => kv.Key, kv => (string)kv.Value!);
}
