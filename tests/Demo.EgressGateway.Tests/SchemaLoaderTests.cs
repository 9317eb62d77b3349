using System.Text;
using Demo.EgressGateway.Istio;

namespace Demo.EgressGateway.Tests;

/// <summary>
/// The loader checks each document against Istio 1.30.3's CRD schema of its kind (Istio/Schema), as the Kubernetes API
/// server does before Istio's webhook: it refuses what the schema refuses — unknown fields, wrong types, values outside
/// an enum, more items than a <c>maxItems</c>, what a CEL rule forbids — and accepts what it accepts, however large.
/// </summary>
public sealed class SchemaLoaderTests
{
    private const string File = "istio.yaml";

    private static IReadOnlyList<ConfigDiagnostic> Errors(string yaml) =>
        [.. IstioConfigLoader.Parse(File, yaml).Diagnostics.Where(d => d.Severity == DiagnosticSeverity.Error)];

    private static ConfigDiagnostic SingleError(string yaml) => Assert.Single(Errors(yaml));

    private static string ServiceEntry(string spec) => $"""
        apiVersion: networking.istio.io/v1
        kind: ServiceEntry
        metadata:
          name: external
        spec:
        {spec}
        """;

    private static string VirtualService(string http) => $"""
        apiVersion: networking.istio.io/v1
        kind: VirtualService
        metadata:
          name: hello
        spec:
          hosts: [a.example.com]
          http:
        {http}
        """;

    private static string Lines(int count, Func<int, string> line) =>
        string.Join("\n", Enumerable.Range(0, count).Select(line));

    [Fact]
    public void An_unknown_field_deep_in_a_route_is_refused_with_its_path_and_line()
    {
        var error = SingleError(VirtualService("""
                - route:
                    - destination:
                        host: a.example.com
                        port: { number: 80, protocol: HTTP }
            """));

        Assert.Equal(("VirtualService 'hello'", "spec.http[0].route[0].destination.port.protocol", 11), (error.Resource, error.Field, error.Line));
        Assert.Equal("is not a field of this object", error.Message);
        Assert.Equal("istio.yaml:11: error: VirtualService 'hello': spec.http[0].route[0].destination.port.protocol: is not a field of this object", error.ToString());
    }

    [Theory]
    [InlineData("  hosts: a.example.com", "spec.hosts", "must be a list, got the string \"a.example.com\"")]
    [InlineData("  hosts: [a.example.com]\n  resolution: DNSX", "spec.resolution", "must be NONE, STATIC, DNS, DNS_ROUND_ROBIN or DYNAMIC_DNS, got 'DNSX'")]
    [InlineData("  hosts: [a.example.com]\n  ports: [{ number: 0, name: http }]", "spec.ports[0].number", "port must be between 1-65535, got 0")]
    [InlineData("  hosts: [a.example.com]\n  ports: [{ number: 80 }]", "spec.ports[0].name", "is required")]
    [InlineData("  hosts: ['*']", "spec.hosts[0]", "hostname cannot be wildcard")]
    [InlineData("  hosts: [a.example.com]\n  resolution: NONE\n  endpoints: [{ address: 10.0.0.1 }]", "spec", "NONE mode cannot set endpoints")]
    [InlineData("  hosts: [a.example.com]\n  ports: [{ number: 80, name: a }, { number: 80, name: b }]", "spec.ports", "port number cannot be duplicated, got 80 twice")]
    public void A_ServiceEntry_is_refused_where_its_CRD_schema_and_CEL_rules_refuse_it(string spec, string field, string message)
    {
        var error = SingleError(ServiceEntry(spec));

        Assert.Equal((field, message), (error.Field, error.Message));
    }

    // The CRD requires an httpCookie's name (validation.go validateLoadBalancer's "name required for HttpCookie" is for
    // an empty one: LoaderTests).
    [Fact]
    public void A_cookie_without_a_name_is_refused_by_the_schema()
    {
        var error = SingleError("""
            apiVersion: networking.istio.io/v1
            kind: DestinationRule
            metadata:
              name: nameless-cookie
            spec:
              host: a.example.com
              trafficPolicy:
                loadBalancer:
                  consistentHash:
                    httpCookie: { ttl: 60s }
            """);

        Assert.Equal(("spec.trafficPolicy.loadBalancer.consistentHash.httpCookie.name", "is required"), (error.Field, error.Message));
    }

    // Istio's CRD caps a ServiceEntry's hosts (and addresses, ports) at 256.
    [Fact]
    public void A_ServiceEntry_with_257_hosts_is_refused_as_its_CRD_caps_them_at_256()
    {
        var error = SingleError(ServiceEntry("  hosts:\n" + Lines(257, i => $"    - h{i}.example.com")));

        Assert.Equal(("spec.hosts", "has 257 items; at most 256 are accepted"), (error.Field, error.Message));
        Assert.Empty(Errors(ServiceEntry("  hosts:\n" + Lines(256, i => $"    - h{i}.example.com"))));
    }

    // The CRDs cap neither a DestinationRule's subsets nor a Gateway server's hosts.
    [Fact]
    public void A_DestinationRule_with_2000_subsets_loads()
    {
        var config = IstioConfigLoader.Parse(File, $"""
            apiVersion: networking.istio.io/v1
            kind: DestinationRule
            metadata:
              name: many-subsets
            spec:
              host: a.example.com
              subsets:
            {Lines(2000, i => $"    - name: v{i}\n      labels: {{ version: v{i} }}")}
            """);

        Assert.Empty(config.Diagnostics);
        Assert.Equal(2000, Assert.IsType<DestinationRule>(Assert.Single(config.Resources)).Subsets.Count);
    }

    [Fact]
    public void A_Gateway_server_with_2000_hosts_loads()
    {
        var config = IstioConfigLoader.Parse(File, $$"""
            apiVersion: networking.istio.io/v1
            kind: Gateway
            metadata:
              name: many-hosts
            spec:
              selector: { istio: egressgateway }
              servers:
                - port: { number: 443, name: tls, protocol: TLS }
                  tls: { mode: ISTIO_MUTUAL }
                  hosts:
            {{Lines(2000, i => $"        - h{i}.example.com")}}
            """);

        Assert.Empty(config.Diagnostics);
        Assert.Equal(2000, Assert.IsType<Gateway>(Assert.Single(config.Resources)).Servers[0].Hosts.Count);
    }

    // validation.go validateWeight refuses only a negative weight; the CRD's int32 has no maximum.
    [Fact]
    public void A_weight_of_150_loads()
    {
        var config = IstioConfigLoader.Parse(File, VirtualService("""
                - route:
                    - destination: { host: a.example.com, subset: v1 }
                      weight: 150
                    - destination: { host: a.example.com, subset: v2 }
                      weight: 50
            """));

        Assert.Empty(config.Diagnostics);
        Assert.Equal([150, 50], Assert.IsType<VirtualService>(Assert.Single(config.Resources)).Http[0].Route.Select(d => d.Weight));
    }

    [Theory]
    // A protobuf oneof (HTTPRedirect.redirect_port): the CRD's oneOf.
    [InlineData("redirect: { port: 8080, derivePort: FROM_REQUEST_PORT }", "spec.http[0].redirect",
        "may set only one of port and derivePort (a protobuf oneof), got port and derivePort")]
    // format: byte.
    [InlineData("directResponse: { status: 200, body: { bytes: not-base64! } }", "spec.http[0].directResponse.body.bytes", "must be base64")]
    // A plain 5 is a number (the YAML 1.2 core schema, as kubectl sends it), not a Duration's string.
    [InlineData("timeout: 5", "spec.http[0].timeout", "must be a string, got '5'")]
    public void Oneofs_formats_and_scalar_types_follow_the_schema(string line, string field, string message)
    {
        var error = SingleError(VirtualService($"    - {line}"));

        Assert.Equal((field, message), (error.Field, error.Message));
    }

    [Fact]
    public void Every_kind_loads_as_any_version_its_CRD_serves()
    {
        var yaml = new StringBuilder();
        foreach (var version in new[] { "v1", "v1beta1", "v1alpha3" })
        {
            yaml.Append($$"""
                apiVersion: networking.istio.io/{{version}}
                kind: ServiceEntry
                metadata:
                  name: se-{{version}}
                spec:
                  hosts: [a.example.com]
                  ports: [{ number: 80, name: http, protocol: HTTP }]
                ---

                """);
        }

        var config = IstioConfigLoader.Parse(File, yaml.ToString());

        Assert.DoesNotContain(config.Diagnostics, d => d.Severity == DiagnosticSeverity.Error);
        Assert.Equal(3, config.Resources.Count);
    }
}
