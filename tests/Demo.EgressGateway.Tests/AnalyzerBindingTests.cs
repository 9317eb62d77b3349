using Demo.EgressGateway.Istio;

namespace Demo.EgressGateway.Tests;

/// <summary>
/// What <c>analyze</c> says of a VirtualService's reach, looked up as Istio does: the Gateway a short name means
/// (resource.NewShortOrFullName: the VirtualService's namespace), the server hosts a namespace may bind
/// (host.NamesForNamespace: <c>./</c>, <c>ns/</c>), exportTo towards the gateway (push_context.go
/// VirtualServicesForGateway), a tcp match's gateways (gateway.go l4MultiMatch) — and, as istioctl's
/// destinationhosts.go does, mirror destinations and wildcard ServiceEntries' exportTo.
/// </summary>
public sealed class AnalyzerBindingTests
{
    // The hosts registered in both namespaces, and vs-a binding a.example.com to the Gateway in its own namespace.
    private static readonly string Base = string.Join("\n---\n", Entry("dbs", "istio-system"), Entry("dbs-demo", "demo"), """
        apiVersion: networking.istio.io/v1
        kind: VirtualService
        metadata: { name: vs-a, namespace: istio-system }
        spec:
          hosts: [a.example.com]
          gateways: [gw]
          tcp:
            - match: [{ port: 9000 }]
              route: [{ destination: { host: a.example.com, port: { number: 9000 } } }]
        """);

    private static string Entry(string name, string ns) => $$"""
        apiVersion: networking.istio.io/v1
        kind: ServiceEntry
        metadata: { name: {{name}}, namespace: {{ns}} }
        spec:
          hosts: [a.example.com, b.example.com]
          location: MESH_EXTERNAL
          ports: [{ number: 9000, name: tcp, protocol: TCP }]
          resolution: DNS
        """;

    private static IReadOnlyList<ConfigDiagnostic> Analyze(string serverHosts, string vsB)
    {
        var config = IstioConfigLoader.Parse("binding.yaml", string.Join("\n---\n", Base, $$"""
            apiVersion: networking.istio.io/v1
            kind: Gateway
            metadata: { name: gw, namespace: istio-system }
            spec:
              selector: { istio: egressgateway }
              servers:
                - port: { number: 9000, name: tcp, protocol: TCP }
                  hosts: [{{serverHosts}}]
            """, vsB));
        Assert.False(config.HasErrors, string.Join('\n', config.Diagnostics));
        return IstioAnalyzer.Analyze(config);
    }

    private static string VsB(string ns, string gateways, string exportTo = "", string matchGateways = "") => $$"""
        apiVersion: networking.istio.io/v1
        kind: VirtualService
        metadata: { name: vs-b, namespace: {{ns}} }
        spec:
          hosts: [b.example.com]
          gateways: [{{gateways}}]
        {{(exportTo.Length > 0 ? $"  exportTo: [\"{exportTo}\"]\n" : "")}}  tcp:
            - match: [{ port: 9000{{(matchGateways.Length > 0 ? $", gateways: [{matchGateways}]" : "")}} }]
              route: [{ destination: { host: b.example.com, port: { number: 9000 } } }]
        """;

    // Only a second VirtualService that really reaches the server's one TCP proxy is named; the others reach another
    // gateway, or none, and say so where Istio's analyzers do (IST0101 gateway not found, IST0132 host not in gateway).
    [Theory]
    [InlineData("a.example.com, b.example.com", "istio-system", "gw", "", "", 2, null)]
    [InlineData("a.example.com, b.example.com", "istio-system", "gw, mesh", "", "mesh", 0, null)]
    [InlineData("a.example.com, b.example.com", "demo", "istio-system/gw", ".", "", 0, null)]
    [InlineData("./a.example.com, ./b.example.com", "demo", "istio-system/gw", "", "", 0, "'b.example.com' is not among the hosts of Gateway 'gw'")]
    [InlineData("a.example.com, b.example.com", "demo", "gw", "", "", 0, "Gateway 'gw' does not exist in namespace 'demo'")]
    public void Two_VirtualServices_are_named_for_one_TCP_server_only_when_both_reach_it(string serverHosts, string ns, string gateways,
        string exportTo, string matchGateways, int shared, string? other)
    {
        var findings = Analyze(serverHosts, VsB(ns, gateways, exportTo, matchGateways));

        Assert.Equal(shared, findings.Count(d => d.Field == "spec.tcp"));
        if (other is not null)
        {
            Assert.Contains(findings, d => d.Resource == "VirtualService 'vs-b'" && d.Message.Contains(other, StringComparison.Ordinal));
        }
    }

    [Fact]
    public void A_mirror_to_an_unregistered_host_is_named_at_its_field()
    {
        var config = IstioConfigLoader.Parse("mirror.yaml", """
            apiVersion: networking.istio.io/v1
            kind: ServiceEntry
            metadata: { name: api, namespace: demo }
            spec:
              hosts: [api.example.com]
              location: MESH_EXTERNAL
              ports: [{ number: 80, name: http, protocol: HTTP }]
              resolution: DNS
            ---
            apiVersion: networking.istio.io/v1
            kind: VirtualService
            metadata: { name: api, namespace: demo }
            spec:
              hosts: [api.example.com]
              http:
                - mirror: { host: copy.example.com }
                  route: [{ destination: { host: api.example.com } }]
                - mirrors: [{ destination: { host: api.example.com, subset: none } }]
                  route: [{ destination: { host: api.example.com } }]
            """);

        var findings = IstioAnalyzer.Analyze(config);

        Assert.Contains(findings, d => d.Field == "spec.http[0].mirror.host" && d.Message.Contains("'copy.example.com' is not registered", StringComparison.Ordinal));
        Assert.Contains(findings, d => d.Field == "spec.http[1].mirrors[0].destination.subset" && d.Message.Contains("subset 'none'", StringComparison.Ordinal));
    }

    // service_lookup.go GetDestinationHost: a wildcard host is looked for in the VirtualService's own namespace (or
    // exported to all), whatever the VirtualService's exportTo.
    [Fact]
    public void A_wildcard_ServiceEntry_not_exported_to_the_routes_namespace_is_named_whatever_the_routes_exportTo()
    {
        var config = IstioConfigLoader.Parse("wildcard.yaml", """
            apiVersion: networking.istio.io/v1
            kind: ServiceEntry
            metadata: { name: wild, namespace: istio-system }
            spec:
              hosts: ["*.example.com"]
              exportTo: [other]
              location: MESH_EXTERNAL
              ports: [{ number: 443, name: tls, protocol: TLS }]
              resolution: NONE
            ---
            apiVersion: networking.istio.io/v1
            kind: VirtualService
            metadata: { name: vs, namespace: demo }
            spec:
              exportTo: [other]
              hosts: [api.example.com]
              tls:
                - match: [{ port: 443, sniHosts: [api.example.com] }]
                  route: [{ destination: { host: api.example.com, port: { number: 443 } } }]
            """);

        var findings = IstioAnalyzer.Analyze(config);

        Assert.Contains(findings, d => d.Field == "spec.tls[0].route[0].destination.host"
            && d.Message.Contains("is registered by ServiceEntry 'wild', whose exportTo [other] does not reach namespace 'demo'", StringComparison.Ordinal));
    }
}
