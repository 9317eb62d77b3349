namespace Demo.EgressGateway.Istio;

/// <summary>
/// A field Istio accepts that the local egress gateway loads and that changes nothing it reproduces — what Envoy does
/// with it acts below HTTP, on a wire the local sidecar → gateway hop does not have, or only on names of statistics.
/// The CRD schema accepts such a field and the loader's Istio API records do not read it (IstioApiCoverageTests checks
/// that every field of the schema is read, refused or listed here), and docs/conformance.md, section "Accepted with no
/// local effect", lists exactly this list (checked by the conformance suite).
/// </summary>
/// <param name="Kind">The resource kind.</param>
/// <param name="Field">The field's path in its resource, list items written <c>[]</c>: <c>spec.servers[].bind</c>.</param>
/// <param name="Why">Why it changes nothing locally, with the Istio/Envoy behaviour it would drive.</param>
public sealed record InertField(string Kind, string Field, string Why);

/// <summary>
/// Every field Istio accepts that the local gateway loads with no local effect: the single list the loader accepts
/// such fields from, and that docs/conformance.md reproduces row by row.
/// </summary>
public static class InertFields
{
    /// <summary>ServiceEntry <c>location</c> (checked for a valid value).</summary>
    public static readonly InertField ServiceEntryLocation = new("ServiceEntry", "spec.location",
        "MESH_INTERNAL lets Istio's auto mTLS apply only to endpoints labelled `security.istio.io/tlsMode: istio` (workloads with a sidecar), which a CF host is not; the CF hosts are MESH_EXTERNAL");

    /// <summary>DestinationRule <c>connectionPool.tcp.tcpKeepalive</c>.</summary>
    public static readonly InertField TcpKeepalive = new("DestinationRule", "spec.trafficPolicy.connectionPool.tcp.tcpKeepalive",
        "TCP keepalive probes (Envoy `upstream_connection_options.tcp_keepalive`) act below HTTP on idle connections; no request can observe them");

    /// <summary>VirtualService <c>http[].match[].statPrefix</c>.</summary>
    public static readonly InertField StatPrefix = new("VirtualService", "spec.http[].match[].statPrefix",
        "names Envoy's per-route statistics (`stat_prefix`); the routing is the same, and the local gateway exposes Istio's standard metrics only");

    /// <summary>Gateway server <c>bind</c>.</summary>
    public static readonly InertField ServerBind = new("Gateway", "spec.servers[].bind",
        "the address the gateway pod's listener binds; the local gateway's listeners bind 127.0.0.1 ports of their own (GET /status lists them)");

    /// <summary>Gateway server <c>defaultEndpoint</c>.</summary>
    public static readonly InertField ServerDefaultEndpoint = new("Gateway", "spec.servers[].defaultEndpoint",
        "where a gateway forwards inbound traffic to its own pod (a sidecar-style ingress); an egress gateway routes by its VirtualService");

    /// <summary>Gateway server <c>name</c>.</summary>
    public static readonly InertField ServerName = new("Gateway", "spec.servers[].name",
        "a label for the server in istiod's output; no traffic depends on it");

    /// <summary>Gateway server tls.subjectAltNames on a SIMPLE server.</summary>
    public static readonly InertField SimpleServerSubjectAltNames = new("Gateway", "spec.servers[].tls.subjectAltNames",
        "on a SIMPLE server only (the other modes check the client certificate's SANs against it): istiod writes no client validation context for SIMPLE (listener.go `BuildListenerTLSContext`)");

    /// <summary>Handshake settings of an ISTIO_MUTUAL server (refused on other modes: <see cref="RefusedFields"/>).</summary>
    public static readonly IReadOnlyList<InertField> IstioMutualHandshake =
    [
        .. new[] { "minProtocolVersion", "maxProtocolVersion", "cipherSuites", "verifyCertificateSpki", "verifyCertificateHash" }
            .Select(key => new InertField("Gateway", $"spec.servers[].tls.{key}",
                "on an ISTIO_MUTUAL server only (other modes refuse it): istiod writes none of it for ISTIO_MUTUAL (listener.go `BuildListenerTLSContext`)")),
    ];

    /// <summary>Every inert field, in the order of the documentation's table (an explicit list, as docs/conformance.md's).</summary>
    public static IReadOnlyList<InertField> All { get; } =
    [
        ServiceEntryLocation, TcpKeepalive, StatPrefix, ServerBind, ServerDefaultEndpoint, ServerName, SimpleServerSubjectAltNames,
        .. IstioMutualHandshake,
    ];
}
