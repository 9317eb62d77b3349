using Demo.EgressGateway.Istio;

namespace Demo.EgressGateway.Tests;

/// <summary>What the loader refuses, and how it says so: file, resource, field, value.</summary>
public sealed class LoaderTests
{
    private const string File = "deploy/istio/test.yaml";

    private static ConfigDiagnostic SingleError(string yaml)
    {
        var result = IstioConfigLoader.Parse(File, yaml);
        return Assert.Single(result.Diagnostics, d => d.Severity == DiagnosticSeverity.Error);
    }

    private static string Vs(string http) => $"""
        apiVersion: networking.istio.io/v1
        kind: VirtualService
        metadata:
          name: hello
        spec:
          hosts: [hello.external]
          http:
        {http}
        """;

    [Fact]
    public void An_unknown_kind_is_refused_naming_the_kind()
    {
        var error = SingleError("apiVersion: networking.istio.io/v1\nkind: Sidecars\nmetadata:\n  name: x\nspec: {}\n");
        Assert.Equal(File, error.File);
        Assert.Equal("kind", error.Field);
        Assert.Contains("'Sidecars' is not a kind", error.Message, StringComparison.Ordinal);
        Assert.Equal(2, error.Line);
    }

    [Fact]
    public void A_misspelled_field_is_refused_with_a_suggestion()
    {
        var error = SingleError(Vs("""
                - route:
                    - destination: { host: a.example.com }
                      weigth: 100
            """));
        Assert.Equal("VirtualService 'hello'", error.Resource);
        Assert.Equal("spec.http[0].route[0].weigth", error.Field);
        Assert.Contains("did you mean 'weight'?", error.Message, StringComparison.Ordinal);
        Assert.Contains("test.yaml:", error.ToString(), StringComparison.Ordinal);
    }

    // Each line goes into the first route, indented as a route field or (with a leading "    ") as a destination field.
    // Types come from the CRD schema; "weight -1 < 0" is validation.go validateWeight's message, "percentage … is
    // neither 0.0, nor in range [0.0001, 100.0]" validatePercentage's, and "must be a valid duration greater than 1ms"
    // the CRD's CEL rule for every Duration field.
    [Theory]
    [InlineData("    weight: \"50\"", "spec.http[0].route[0].weight", "must be an integer, got the string \"50\"")]
    [InlineData("    weight: -1", "spec.http[0].route[0].weight", "weight -1 < 0")]
    [InlineData("    weight: [1]", "spec.http[0].route[0].weight", "must be an integer, got a list")]
    [InlineData("timeout: 5 sec", "spec.http[0].timeout", "must be a duration")]
    [InlineData("timeout: 0.5ms", "spec.http[0].timeout", "must be a valid duration greater than 1ms, got '0.5ms'")]
    [InlineData("retries: { attempts: 2, retryOn: '5xx,teapot' }", "spec.http[0].retries.retryOn", "\"teapot\" is not a valid retryOn policy")]
    [InlineData("fault: { abort: { httpStatus: 418, percentage: { value: 101 } } }", "spec.http[0].fault.abort.percentage.value", "percentage 101 is neither 0.0, nor in range [0.0001, 100.0]")]
    [InlineData("delegate: { name: reviews }", "spec.http[0].delegate", "not supported by the local egress gateway")]
    [InlineData("redirect: { uri: /x }", "spec.http[0]", "HTTP route cannot contain both route and redirect")]
    public void Wrong_types_ranges_and_unsupported_settings_name_field_and_value(string line, string field, string message)
    {
        var error = SingleError(Vs($"""
                - route:
                    - destination: {"{"} host: a.example.com {"}"}
                  {line}
            """));
        Assert.Equal(field, error.Field);
        Assert.Contains(message, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Not_YAML_is_refused_with_a_line_number()
    {
        var error = SingleError("kind: VirtualService\nspec: [unclosed\n");
        Assert.Contains("is not valid YAML", error.Message, StringComparison.Ordinal);
        Assert.NotNull(error.Line);
    }

    [Fact]
    public void Aliases_and_deep_nesting_are_refused_before_parsing()
    {
        Assert.Contains("alias", SingleError("a: &x [1]\nb: *x\n").Message, StringComparison.Ordinal);
        Assert.Contains("nests deeper", SingleError(new string('[', 100) + new string(']', 100)).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_non_Istio_document_is_refused()
    {
        var error = SingleError("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\ndata: {}\n");
        Assert.Equal("apiVersion", error.Field);
        Assert.Contains("reads only Istio networking resources", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("networking.istio.io/latest", "'networking.istio.io/latest' is not a version of networking.istio.io; use networking.istio.io/v1")]
    [InlineData("networking.istio.io/V1", "'networking.istio.io/V1' is not a version of networking.istio.io; use networking.istio.io/v1")]
    [InlineData("networking.istio.io/v1beta", "'networking.istio.io/v1beta' is not a version of networking.istio.io; use networking.istio.io/v1")]
    [InlineData("security.istio.io/v1", "'security.istio.io/v1' is not networking.istio.io: the local egress gateway reads only Istio networking resources")]
    public void An_api_version_that_is_no_Kubernetes_version_of_networking_istio_io_is_refused(string apiVersion, string message)
    {
        var error = SingleError(Vs("    - route:\n        - destination: { host: a.example.com }\n").Replace("networking.istio.io/v1", apiVersion, StringComparison.Ordinal));
        Assert.Equal(("VirtualService 'hello'", "apiVersion", 1), (error.Resource, error.Field, error.Line));
        Assert.Equal(message, error.Message);
    }

    [Theory]
    [InlineData("networking.istio.io/v1beta2")]
    [InlineData("networking.istio.io/v2")]
    [InlineData("networking.istio.io/v3alpha1")]
    public void A_well_formed_version_of_networking_istio_io_loads_for_the_analyzer_to_check(string apiVersion)
    {
        var result = IstioConfigLoader.Parse(File, Vs("    - route:\n        - destination: { host: a.example.com }\n").Replace("networking.istio.io/v1", apiVersion, StringComparison.Ordinal));
        Assert.Equal(apiVersion, Assert.Single(result.Resources).Id.ApiVersion);
        Assert.Empty(result.Diagnostics);
    }

    [Fact]
    public void An_older_API_version_loads_with_a_warning()
    {
        var result = IstioConfigLoader.Parse(File, Vs("    - route:\n        - destination: { host: a.example.com }\n").Replace("networking.istio.io/v1", "networking.istio.io/v1beta1", StringComparison.Ordinal));
        Assert.Single(result.Resources);
        Assert.Contains(result.Diagnostics, d => d.Severity == DiagnosticSeverity.Warning && d.Message.Contains("use networking.istio.io/v1", StringComparison.Ordinal));
    }

    [Fact]
    public void An_unknown_scenario_names_the_known_ones()
    {
        var config = IstioConfigLoader.LoadDirectory(ConfigFolder.DeployIstio, ["virtual-service-hello-99-1"]);
        var error = Assert.Single(config.Diagnostics, d => d.Severity == DiagnosticSeverity.Error);
        Assert.Contains("virtual-service-hello-90-10", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_gateway_refuses_to_start_on_YAML_it_cannot_honour()
    {
        var exception = await Assert.ThrowsAnyAsync<Exception>(() => GatewayHost.StartAsync(folder =>
            folder.Replace(MeshYaml.SidecarFile, "      timeout: 5s", "      delegate:\n        name: reviews\n      timeout: 5s")));
        var istio = exception as IstioConfigException ?? exception.InnerException as IstioConfigException;
        Assert.NotNull(istio);
        Assert.Contains("virtual-service-hello.yaml:", istio.Message, StringComparison.Ordinal);
        Assert.Contains("VirtualService 'hello': spec.http[0].delegate: is not supported by the local egress gateway (delegated VirtualServices)", istio.Message, StringComparison.Ordinal);
    }

    // validation.go ValidateVirtualService, validateTCPRoute, validateLoadBalancer, ValidateServiceEntry — as Istio words
    // them (a cookie without any name is the CRD schema's refusal: SchemaLoaderTests); validateGateway's unique port
    // names, which the passthrough pattern's two servers on 443 rely on.
    [Theory]
    [InlineData("""
        kind: VirtualService
        metadata:
          name: empty
        spec:
          hosts: [a.example.com]
        """, "VirtualService 'empty'", "spec", "http, tcp or tls must be provided in virtual service")]
    [InlineData("""
        kind: VirtualService
        metadata:
          name: no-destination
        spec:
          hosts: [a.example.com]
          tcp:
            - match: [{ port: 9000 }]
        """, "VirtualService 'no-destination'", "spec.tcp[0].route", "TCP route is required")]
    [InlineData("""
        kind: DestinationRule
        metadata:
          name: nameless-cookie
        spec:
          host: a.example.com
          trafficPolicy:
            loadBalancer:
              consistentHash:
                httpCookie: { name: "", ttl: 60s }
        """, "DestinationRule 'nameless-cookie'", "spec.trafficPolicy.loadBalancer.consistentHash.httpCookie.name", "name required for HttpCookie")]
    [InlineData("""
        kind: ServiceEntry
        metadata:
          name: bad-address
        spec:
          hosts: [a.example.com]
          addresses: [10.0.0.300]
          ports: [{ number: 9000, name: tcp, protocol: TCP }]
        """, "ServiceEntry 'bad-address'", "spec.addresses", "invalid address 10.0.0.300")]
    [InlineData("""
        kind: Gateway
        metadata:
          name: twice-named
        spec:
          selector: { istio: egressgateway }
          servers:
            - port: { number: 443, name: tls-hello, protocol: TLS }
              hosts: [./a.example.com]
              tls: { mode: ISTIO_MUTUAL }
            - port: { number: 443, name: tls-hello, protocol: TLS }
              hosts: [./b.example.com]
              tls: { mode: ISTIO_MUTUAL }
        """, "Gateway 'twice-named'", "spec.servers[1].port.name", "port names in servers must be unique: duplicate name tls-hello")]
    public void Tls_tcp_cookie_and_address_mistakes_are_refused_naming_file_resource_field_and_value(string document, string resource, string field, string message)
    {
        var error = SingleError("apiVersion: networking.istio.io/v1\n" + document);
        Assert.Equal(File, error.File);
        Assert.Equal(resource, error.Resource);
        Assert.Equal(field, error.Field);
        Assert.Contains(message, error.Message, StringComparison.Ordinal);
    }
}
