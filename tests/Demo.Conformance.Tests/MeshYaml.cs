namespace Demo.Conformance.Tests;

/// <summary>
/// The resources every conformance case starts from, so that each test's YAML is a complete Istio configuration:
/// ServiceEntries registering the external hosts (REGISTRY_ONLY lets only those through) and the egress Gateway,
/// selected by <c>istio: egressgateway</c> as in Istio's egress samples.
/// </summary>
public static class MeshYaml
{
    /// <summary>A plain-HTTP external service on port 80 (the "b" of Istio's echo deployment, here outside the mesh).</summary>
    public const string B = "b.external";
    public const string C = "c.external";
    public const string D = "d.external";

    /// <summary>
    /// A VirtualService <paramref name="name"/> for <paramref name="host"/>; <paramref name="routes"/> are its
    /// <c>http</c> items, indented as they stand under <c>http:</c> (two spaces and more).
    /// </summary>
    public static string VirtualService(string name, string host, string routes) => $"""
        apiVersion: networking.istio.io/v1
        kind: VirtualService
        metadata:
          name: {name}
        spec:
          hosts:
            - {host}
          http:
        {routes}
        """;

    /// <summary>Joins YAML documents into one stream.</summary>
    public static string Join(params string[] documents) =>
        string.Join("\n---\n", documents.Select(d => d.Trim('\n')));

    /// <summary>A MESH_EXTERNAL ServiceEntry with DNS resolution for <paramref name="host"/> on the given ports.</summary>
    public static string ServiceEntry(string host, params (int Number, string Protocol)[] ports)
    {
        var list = ports.Length == 0 ? [(80, "HTTP")] : ports;
        return $"""
            apiVersion: networking.istio.io/v1
            kind: ServiceEntry
            metadata:
              name: {host.Replace('.', '-')}
            spec:
              hosts:
                - {host}
              location: MESH_EXTERNAL
              resolution: DNS
              ports:
            {string.Join("\n", list.Select(p => $"    - number: {p.Number}\n      name: {p.Protocol.ToLowerInvariant()}-{p.Number}\n      protocol: {p.Protocol}"))}
            """;
    }

    /// <summary>The egress gateway's Gateway: one HTTPS server on 443 taking the sidecars' mTLS for <paramref name="hosts"/>.</summary>
    public static string EgressGatewayResource(string name, params string[] hosts) => $"""
        apiVersion: networking.istio.io/v1
        kind: Gateway
        metadata:
          name: {name}
        spec:
          selector:
            istio: egressgateway
          servers:
            - port:
                number: 443
                name: https
                protocol: HTTPS
              hosts:
        {string.Join("\n", hosts.Select(h => $"        - {h}"))}
              tls:
                mode: ISTIO_MUTUAL
        """;

    /// <summary>
    /// The common base of the routing cases: b, c and d as plain-HTTP external services and an egress Gateway
    /// (unused by sidecar-only cases, present as it is in a cluster).
    /// </summary>
    public static string Base(params string[] more) => Join([
        ServiceEntry(B), ServiceEntry(C), ServiceEntry(D),
        EgressGatewayResource("istio-egressgateway", "external-service.external"),
        ServiceEntry("external-service.external", (80, "HTTP"), (443, "HTTPS")),
        .. more]);
}
