using System.Globalization;
using System.Text;

namespace Demo.Bench;

/// <summary>
/// N external services in deploy/istio's pattern, one file per resource: per service its in-mesh ServiceEntry, the
/// ServiceEntry of its two CF hosts, a TLS-origination DestinationRule per host, the sidecar VirtualService (50/50,
/// Host per version, timeout and retries) and the gateway VirtualService (a route per host, a fault each); shared by
/// all, the egress gateway's subset DestinationRule (a subset per service and version, each with its host's SNI) and
/// the Gateway's HTTPS server listing every host. Service 0 is deploy/istio's own <c>hello</c> (hello.external, the
/// hello-istio-v1/v2 CF hosts, subsets v1/v2), so whatever maps those hosts reaches it.
/// </summary>
public static class ScaleConfig
{
    /// <summary>The Gateway every gateway VirtualService binds to.</summary>
    public const string GatewayName = "hello-cf-egress";

    /// <summary>
    /// The default of <see cref="Write"/>'s <c>maxListItems</c>: 0, no split — Istio's CRDs cap neither a
    /// DestinationRule's subsets nor a Gateway server's hosts, and neither does the schema-driven loader.
    /// </summary>
    public const int LoaderListCap = 0;

    /// <summary>Names of service <paramref name="index"/>: its resources' stem, in-mesh host, CF hosts and subsets.</summary>
    public static (string Stem, string MeshHost, string V1Host, string V2Host, string V1Subset, string V2Subset) Service(int index) =>
        index == 0
            ? ("hello", "hello.external", "hello-istio-v1.apps.example.com", "hello-istio-v2.apps.example.com", "v1", "v2")
            : ($"s{index:D4}", $"s{index:D4}.external", $"s{index:D4}-v1.apps.example.com", $"s{index:D4}-v2.apps.example.com",
                $"s{index:D4}-v1", $"s{index:D4}-v2");

    /// <summary>
    /// Writes <paramref name="services"/> services into <paramref name="directory"/> (created; existing YAML of the
    /// pattern is overwritten). <paramref name="faultStatus"/> is the HTTP status of the fault of service 0's gateway
    /// routes, aborting <paramref name="faultPercent"/> % of requests (0: no fault block); every other service's
    /// routes abort 10 % with 418, as deploy/istio's do. Above <paramref name="maxListItems"/> subsets or hosts (0: no
    /// limit) the subsets spread over several DestinationRules of the same host (Istio merges them) and the hosts over
    /// several servers of the same port.
    /// </summary>
    /// <returns>How many files were written.</returns>
    public static int Write(string directory, int services, int faultStatus = 418, double faultPercent = 10, int maxListItems = LoaderListCap)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(services, 1);
        Directory.CreateDirectory(directory);
        var files = 0;
        void Put(string name, string text)
        {
            File.WriteAllText(Path.Combine(directory, name), text);
            files++;
        }

        for (var i = 0; i < services; i++)
        {
            var s = Service(i);
            Put(FileName("service-entry", s.Stem + "-external"), InMeshServiceEntry(s.Stem + "-external", s.MeshHost));
            Put(FileName("service-entry", s.Stem + "-cf"), CfServiceEntry(s.Stem + "-cf", s.V1Host, s.V2Host));
            Put(FileName("destination-rule", s.Stem + "-v1"), TlsOrigination(s.Stem + "-v1", s.V1Host));
            Put(FileName("destination-rule", s.Stem + "-v2"), TlsOrigination(s.Stem + "-v2", s.V2Host));
            Put(FileName("virtual-service", s.Stem), SidecarVirtualService(s.Stem, s.MeshHost, (s.V1Subset, s.V1Host), (s.V2Subset, s.V2Host)));
            Put(FileName("virtual-service", s.Stem + "-egress"), i == 0
                ? GatewayVirtualService(s.Stem + "-egress", s.V1Host, s.V2Host, faultStatus, faultPercent)
                : GatewayVirtualService(s.Stem + "-egress", s.V1Host, s.V2Host, 418, 10));
        }

        var chunk = maxListItems > 0 ? maxListItems : 2 * services;
        var subsets = Enumerable.Range(0, services).Select(Service)
            .SelectMany(s => new[] { (s.V1Subset, s.V1Host), (s.V2Subset, s.V2Host) }).Chunk(chunk).ToList();
        for (var part = 0; part < subsets.Count; part++)
        {
            var name = part == 0 ? "istio-egressgateway" : $"istio-egressgateway-{part}";
            Put(FileName("destination-rule", name), SubsetDestinationRule(name, subsets[part]));
        }
        var hosts = Enumerable.Range(0, services).Select(Service).SelectMany(s => new[] { s.V1Host, s.V2Host });
        Put(FileName("gateway", GatewayName), Gateway([.. hosts.Chunk(chunk)]));
        return files;
    }

    private static string FileName(string kind, string name) => $"{kind}-{name}.yaml";

    // The lines every resource starts with, up to its spec (exported to its own namespace only, as deploy/istio's are);
    // the resource's own spec fields follow, indented by two spaces.
    private static string Header(string kind, string name, string ns, bool exported = true) => $"""
        apiVersion: networking.istio.io/v1
        kind: {kind}
        metadata:
          name: {name}
          namespace: {ns}
        spec:

        """ + (exported ? "  exportTo:\n    - \".\"\n" : "");

    private static string InMeshServiceEntry(string name, string host) => Header("ServiceEntry", name, "demo") + $"""
          hosts:
            - {host}
          location: MESH_EXTERNAL
          ports:
            - number: 80
              name: http
              protocol: HTTP
          resolution: DNS

        """;

    private static string CfServiceEntry(string name, string v1Host, string v2Host) => Header("ServiceEntry", name, "istio-system") + $"""
          hosts:
            - {v1Host}
            - {v2Host}
          location: MESH_EXTERNAL
          ports:
            - number: 443
              name: https
              protocol: HTTPS
          resolution: DNS

        """;

    private static string TlsOrigination(string name, string host) => Header("DestinationRule", name, "istio-system") + $"""
          host: {host}
          trafficPolicy:
            portLevelSettings:
              - port:
                  number: 443
                outlierDetection:
                  consecutiveGatewayErrors: 3
                  consecutive5xxErrors: 0
                  interval: 5s
                  baseEjectionTime: 15s
                  maxEjectionPercent: 100
                tls:
                  mode: SIMPLE
                  sni: {host}
                  subjectAltNames:
                    - {host}

        """;

    private static string SidecarVirtualService(string name, string meshHost, params (string Subset, string Host)[] versions)
    {
        var text = new StringBuilder(Header("VirtualService", name, "demo")).Append(CultureInfo.InvariantCulture, $"""
              hosts:
                - {meshHost}
              gateways:
                - mesh
              http:
                - name: {name}-split
                  route:

            """);
        foreach (var (subset, host) in versions)
        {
            text.Append(CultureInfo.InvariantCulture, $"""
                        - destination:
                            host: istio-egressgateway.istio-system.svc.cluster.local
                            subset: {subset}
                            port:
                              number: 443
                          weight: 50
                          headers:
                            request:
                              set:
                                host: {host}

                """);
        }
        text.Append("""
                  timeout: 5s
                  retries:
                    attempts: 2
                    perTryTimeout: 2s
                    retryOn: connect-failure,refused-stream,unavailable,cancelled,5xx

            """);
        return text.ToString();
    }

    private static string GatewayVirtualService(string name, string v1Host, string v2Host, int faultStatus, double faultPercent)
    {
        var text = new StringBuilder(Header("VirtualService", name, "istio-system")).Append(CultureInfo.InvariantCulture, $"""
              hosts:
                - {v1Host}
                - {v2Host}
              gateways:
                - {GatewayName}
              http:

            """);
        foreach (var (version, host) in new[] { ("v1", v1Host), ("v2", v2Host) })
        {
            text.Append(CultureInfo.InvariantCulture, $"""
                    - name: {name}-{version}
                      match:
                        - gateways:
                            - {GatewayName}
                          port: 443
                          authority:
                            exact: {host}

                """);
            if (faultPercent > 0)
            {
                text.Append(CultureInfo.InvariantCulture, $"""
                          fault:
                            abort:
                              httpStatus: {faultStatus}
                              percentage:
                                value: {faultPercent}

                    """);
            }
            text.Append(CultureInfo.InvariantCulture, $"""
                      route:
                        - destination:
                            host: {host}
                            port:
                              number: 443

                """);
        }
        return text.ToString();
    }

    private static string SubsetDestinationRule(string name, IEnumerable<(string Subset, string Sni)> subsets)
    {
        var text = new StringBuilder(Header("DestinationRule", name, "demo")).Append("""
              host: istio-egressgateway.istio-system.svc.cluster.local
              subsets:

            """);
        foreach (var (subset, sni) in subsets)
        {
            text.Append(CultureInfo.InvariantCulture, $"""
                    - name: {subset}
                      trafficPolicy:
                        portLevelSettings:
                          - port:
                              number: 443
                            tls:
                              mode: ISTIO_MUTUAL
                              sni: {sni}

                """);
        }
        return text.ToString();
    }

    private static string Gateway(IReadOnlyList<string[]> servers)
    {
        var text = new StringBuilder(Header("Gateway", GatewayName, "istio-system", exported: false)).Append("""
              selector:
                istio: egressgateway
              servers:

            """);
        for (var server = 0; server < servers.Count; server++)
        {
            // Istio refuses two servers of one Gateway with the same port name.
            var portName = server == 0 ? "https" : $"https-{server}";
            text.Append(CultureInfo.InvariantCulture, $"""
                    - port:
                        number: 443
                        name: {portName}
                        protocol: HTTPS
                      hosts:

                """);
            foreach (var host in servers[server])
            {
                text.Append(CultureInfo.InvariantCulture, $"        - ./{host}\n");
            }
            text.Append("""
                      tls:
                        mode: ISTIO_MUTUAL

                """);
        }
        return text.ToString();
    }
}
