using System.Text.Json.Serialization;

namespace Demo.EgressGateway.Istio.Api;

// istio.io/api networking/v1 (service_entry.proto, gateway.proto, sidecar.proto) as the egress gateway reads it: the
// fields it applies or checks, named as the API names them. What it refuses (RefusedFields) or accepts with no local
// effect (InertFields) is not declared; IstioSchemaTests checks that every field of the CRD schema is one of the
// three. Deserialized from the document once the schema has checked it (IstioApiJson); settable properties, as the
// source-generated deserializer sets them directly (init-only ones would go through its slower constructor path).

/// <summary>networking.istio.io ServiceEntry <c>spec</c> (service_entry.proto <c>ServiceEntry</c>).</summary>
internal sealed record ServiceEntry
{
    public IReadOnlyList<string>? Hosts { get; set; }
    public IReadOnlyList<string>? Addresses { get; set; }
    public IReadOnlyList<ServicePort>? Ports { get; set; }
    public string? Location { get; set; }
    public string? Resolution { get; set; }
    public IReadOnlyList<WorkloadEntry>? Endpoints { get; set; }
    public IReadOnlyList<string>? ExportTo { get; set; }
    public IReadOnlyList<string>? SubjectAltNames { get; set; }
}

/// <summary>service_entry.proto <c>ServicePort</c>; gateway.proto <c>Port</c> has the same fields.</summary>
internal sealed record ServicePort
{
    public uint? Number { get; set; }
    public string? Protocol { get; set; }
    public string? Name { get; set; }
    public uint? TargetPort { get; set; }
}

/// <summary>workload_entry.proto <c>WorkloadEntry</c>, as a ServiceEntry endpoint.</summary>
internal sealed record WorkloadEntry
{
    public string? Address { get; set; }
    public IReadOnlyDictionary<string, uint>? Ports { get; set; }
    public IReadOnlyDictionary<string, string>? Labels { get; set; }
}

/// <summary>networking.istio.io Gateway <c>spec</c> (gateway.proto <c>Gateway</c>).</summary>
internal sealed record Gateway
{
    public IReadOnlyList<Server>? Servers { get; set; }
    public IReadOnlyDictionary<string, string>? Selector { get; set; }
}

/// <summary>gateway.proto <c>Server</c>.</summary>
internal sealed record Server
{
    public ServicePort? Port { get; set; }
    public IReadOnlyList<string>? Hosts { get; set; }
    public ServerTLSSettings? Tls { get; set; }
}

/// <summary>gateway.proto <c>ServerTLSSettings</c>.</summary>
internal sealed record ServerTLSSettings
{
    public string? Mode { get; set; }
    public string? ServerCertificate { get; set; }
    public string? PrivateKey { get; set; }
    public string? CaCertificates { get; set; }
    public string? CredentialName { get; set; }
    public IReadOnlyList<string>? SubjectAltNames { get; set; }
}

/// <summary>networking.istio.io Sidecar <c>spec</c> (sidecar.proto <c>Sidecar</c>).</summary>
internal sealed record Sidecar
{
    public WorkloadSelector? WorkloadSelector { get; set; }
    public IReadOnlyList<IstioEgressListener>? Egress { get; set; }
    public OutboundTrafficPolicy? OutboundTrafficPolicy { get; set; }
}

/// <summary>sidecar.proto <c>WorkloadSelector</c>.</summary>
internal sealed record WorkloadSelector
{
    public IReadOnlyDictionary<string, string>? Labels { get; set; }
}

/// <summary>sidecar.proto <c>IstioEgressListener</c>.</summary>
internal sealed record IstioEgressListener
{
    public IReadOnlyList<string>? Hosts { get; set; }
}

/// <summary>sidecar.proto <c>OutboundTrafficPolicy</c>.</summary>
internal sealed record OutboundTrafficPolicy
{
    public string? Mode { get; set; }
}

/// <summary>The API records, deserialized with System.Text.Json's source generator (camelCase names, as the CRDs have them).</summary>
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase)]
[JsonSerializable(typeof(ServiceEntry))]
[JsonSerializable(typeof(Gateway))]
[JsonSerializable(typeof(DestinationRule))]
[JsonSerializable(typeof(VirtualService))]
[JsonSerializable(typeof(Sidecar))]
internal sealed partial class IstioApiJson : JsonSerializerContext;
