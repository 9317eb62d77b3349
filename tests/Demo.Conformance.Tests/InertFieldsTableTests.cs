using Demo.EgressGateway.Istio;

namespace Demo.Conformance.Tests;

/// <summary>
/// Keeps docs/conformance.md, section "Accepted with no local effect", exact: it lists exactly the fields the loader
/// accepts with no local effect (<see cref="InertFields"/>, the only way the loader accepts such a field), so that
/// nothing the loader takes is dropped without a stated reason.
/// </summary>
public sealed class InertFieldsTableTests
{
    [Fact]
    public void TheTableListsExactlyTheFieldsTheLoaderAcceptsWithNoLocalEffect()
    {
        var rows = ConformanceDoc.Section("## Accepted with no local effect").Split('\n')
            .Where(line => line.StartsWith("| ", StringComparison.Ordinal) && line.Contains(" | `", StringComparison.Ordinal))
            .Select(line => line.Trim().Trim('|').Split(" | ").Select(c => c.Trim()).ToArray())
            .Select(cells => $"| {cells[0]} | `{cells[1].Trim('`')}` | {cells[2]} |")
            .ToList();
        var expected = InertFields.All.Select(f => $"| {f.Kind} | `{f.Field}` | {f.Why} |").ToList();

        Assert.True(expected.SequenceEqual(rows), "the table should hold, in this order:\n" + string.Join('\n', expected));
    }

    // Each inert field loads without an error, wherever the loader reads it (one document with every one of them).
    [Fact]
    public void A_configuration_with_every_inert_field_loads_without_an_error()
    {
        var folder = Directory.CreateTempSubdirectory("inert-fields-");
        try
        {
            File.WriteAllText(Path.Combine(folder.FullName, "inert.yaml"), """
                apiVersion: networking.istio.io/v1
                kind: ServiceEntry
                metadata:
                  name: inert-se
                spec:
                  hosts: [inert.example.com]
                  addresses: [240.0.0.1]
                  location: MESH_EXTERNAL
                  resolution: DNS
                  ports: [{ number: 80, name: http, protocol: HTTP }]
                ---
                apiVersion: networking.istio.io/v1
                kind: DestinationRule
                metadata:
                  name: inert-dr
                spec:
                  host: inert.example.com
                  trafficPolicy:
                    connectionPool:
                      tcp:
                        tcpKeepalive: { time: 7200s, interval: 75s, probes: 9 }
                ---
                apiVersion: networking.istio.io/v1
                kind: VirtualService
                metadata:
                  name: inert-vs
                spec:
                  hosts: [inert.example.com]
                  http:
                    - match: [{ uri: { prefix: / }, statPrefix: inert }]
                      route: [{ destination: { host: inert.example.com } }]
                ---
                apiVersion: networking.istio.io/v1
                kind: Gateway
                metadata:
                  name: inert-gw
                spec:
                  selector: { istio: egressgateway }
                  servers:
                    - name: inert-server
                      bind: 0.0.0.0
                      port: { number: 443, name: tls, protocol: TLS }
                      hosts: [inert.example.com]
                      tls:
                        mode: ISTIO_MUTUAL
                        minProtocolVersion: TLSV1_2
                        maxProtocolVersion: TLSV1_3
                        cipherSuites: [ECDHE-ECDSA-AES256-GCM-SHA384]
                """);

            var result = IstioConfigLoader.LoadDirectory(folder.FullName);

            Assert.DoesNotContain(result.Diagnostics, d => d.Severity == DiagnosticSeverity.Error);
        }
        finally
        {
            folder.Delete(recursive: true);
        }
    }
}
