using static Demo.Conformance.Tests.MeshYaml;

namespace Demo.Conformance.Tests;

/// <summary>
/// Istio cases whose feature Istio accepts but the local gateway does not reproduce: the gateway must refuse the
/// configuration at load, naming the file, the resource and the field — never start and silently ignore it
/// (issue 13: "Nothing accepted by the loader is silently ignored").
/// </summary>
public sealed class RefusedFeatureTests
{
    private static async Task AssertRefusedAsync(string yaml, string resource, string field)
    {
        var message = await ConformanceMesh.RefusalAsync(Base(yaml));
        Assert.Contains("istio.yaml", message, StringComparison.Ordinal);
        Assert.Contains(resource, message, StringComparison.Ordinal);
        Assert.Contains(field, message, StringComparison.Ordinal);
    }

    private static string VirtualService(string name, string routeYaml) => $"""
        apiVersion: networking.istio.io/v1
        kind: VirtualService
        metadata:
          name: {name}
        spec:
          hosts:
            - {B}
          http:
        {routeYaml}
        """;

    // Istio cases "redirect", "redirect port and scheme", "redirect request port" (children "to default", "to default
    // with host port", "non-default", "non-default with host port") and "redirect prefix_rewrite".
    [Fact]
    public async Task RedirectIsRefusedAtLoad()
    {
        await AssertRefusedAsync(VirtualService("redirect", """
                - match:
                    - uri:
                        exact: /foo
                  redirect:
                    uri: /new/path
            """), "redirect", "spec.http[0].redirect");
    }

    // Istio case "cors" (children "preflight", "get", "get no origin match").
    [Fact]
    public async Task CorsPolicyIsRefusedAtLoad()
    {
        await AssertRefusedAsync(VirtualService("cors", $"""
                - corsPolicy:
                    allowOrigins:
                      - exact: cors.com
                    allowMethods:
                      - POST
                      - GET
                    allowCredentials: false
                    allowHeaders:
                      - X-Foo-Bar
                    maxAge: "24h"
                  route:
                    - destination:
                        host: {B}
            """), "cors", "spec.http[0].corsPolicy");
    }

    // Istio case "fault abort gRPC".
    [Fact]
    public async Task GrpcStatusFaultAbortIsRefusedAtLoad()
    {
        await AssertRefusedAsync(VirtualService("grpc-abort", $"""
                - route:
                    - destination:
                        host: {B}
                  fault:
                    abort:
                      percentage:
                        value: 100
                      grpcStatus: "UNAVAILABLE"
            """), "grpc-abort", "grpcStatus");
    }

    // Istio's tcp routes (ProxyProtocolFilterAppliedGatewayCase's tcpVirtualService) — TCP is not modelled.
    [Fact]
    public async Task TcpRoutesAreRefusedAtLoad()
    {
        var message = await ConformanceMesh.RefusalAsync(Base($"""
            apiVersion: networking.istio.io/v1
            kind: VirtualService
            metadata:
              name: tcp-route
            spec:
              hosts:
                - {B}
              tcp:
                - match:
                    - port: 80
                  route:
                    - destination:
                        host: {B}
                        port:
                          number: 80
            """));
        Assert.Contains("tcp-route", message, StringComparison.Ordinal);
        Assert.Contains("spec.tcp", message, StringComparison.Ordinal);
    }

    // Istio's EnvoyFilter (envoyFilterCases, "https with x-forwarded-proto"), Sidecar (TestExternalService's
    // PASS_THROUGH cases, instanceIPTests) and RequestAuthentication (jwtClaimRoute) kinds: not applied by the local
    // gateway, so refused, naming the resource and its kind or apiVersion.
    [Theory]
    [InlineData("EnvoyFilter", "networking.istio.io/v1alpha3")]
    [InlineData("Sidecar", "networking.istio.io/v1")]
    [InlineData("RequestAuthentication", "security.istio.io/v1")]
    public async Task UnmodelledKindsAreRefusedAtLoad(string kind, string apiVersion)
    {
        var message = await ConformanceMesh.RefusalAsync(Base($"""
            apiVersion: {apiVersion}
            kind: {kind}
            metadata:
              name: unmodelled
            spec:
              workloadSelector:
                labels:
                  app: a
            """));
        Assert.Contains($"{kind} 'unmodelled'", message, StringComparison.Ordinal);
        Assert.Matches("(kind|apiVersion):", message);
    }

    // Istio TestMutualTlsOrigination (all cases), TestSidecarMutualTlsOrigination (all cases), TestDestinationRuleTls,
    // TestEgressGatewayTls "Mutual TLS origination from egress gateway to https endpoint": client certificates
    // (mode MUTUAL) are not modelled — the gateway would originate TLS without them.
    [Fact]
    public async Task MutualTlsOriginationIsRefusedAtLoad()
    {
        await AssertRefusedAsync("""
            apiVersion: networking.istio.io/v1
            kind: DestinationRule
            metadata:
              name: originate-mtls
            spec:
              host: external-service.external
              trafficPolicy:
                tls:
                  mode: MUTUAL
                  clientCertificate: /etc/certs/custom/cert-chain.pem
                  privateKey: /etc/certs/custom/key.pem
                  caCertificates: /etc/certs/custom/root-cert.pem
                  sni: external-service.external
            """, "originate-mtls", "MUTUAL");
    }

    // Istio TestSimpleTlsOrigination "simple", "fake root", "missing secret": credentialName names a Kubernetes
    // Secret, which the local gateway has no store for.
    [Fact]
    public async Task CredentialNameIsRefusedAtLoad()
    {
        await AssertRefusedAsync("""
            apiVersion: networking.istio.io/v1
            kind: DestinationRule
            metadata:
              name: originate-tls-credential
            spec:
              host: external-service.external
              trafficPolicy:
                portLevelSettings:
                  - port:
                      number: 443
                    tls:
                      mode: SIMPLE
                      credentialName: tls-credential
                      sni: external-service.external
            """, "originate-tls-credential", "credentialName");
    }

    // Istio destinationRuleCases "http2 keepalive in DR": HTTP/2 keepalive pings to upstreams are not modelled.
    [Fact]
    public async Task Http2KeepaliveIsRefusedAtLoad()
    {
        await AssertRefusedAsync($"""
            apiVersion: networking.istio.io/v1
            kind: DestinationRule
            metadata:
              name: http2-keepalive-dr
            spec:
              host: {B}
              trafficPolicy:
                tls:
                  mode: DISABLE
                connectionPool:
                  http:
                    http2KeepAlive:
                      interval: 15s
                      timeout: 5s
            """, "http2-keepalive-dr", "http2KeepAlive");
    }

    // Istio jwtClaimRoute (every case): a header match on "@request.auth.claims..." is a JWT claim match
    // (route.go translateMetadataMatch turns it into a dynamic-metadata matcher), not a header — the local gateway
    // validates no JWT, so it must refuse it rather than compare a literal header of that name.
    [Fact]
    public async Task JwtClaimMatchIsRefusedAtLoad()
    {
        await AssertRefusedAsync(VirtualService("jwt-claims", $"""
                - match:
                    - headers:
                        "@request.auth.claims.nested.key1":
                          exact: valueA
                  route:
                    - destination:
                        host: {B}
            """), "jwt-claims", "@request.auth.claims");
    }

    // Istio TestUpstreamProxyProtocol "proxy": a DestinationRule's proxyProtocol makes Envoy send a PROXY header
    // upstream; the local gateway does not, so it must refuse the field.
    [Fact]
    public async Task ProxyProtocolIsRefusedAtLoad()
    {
        await AssertRefusedAsync($"""
            apiVersion: networking.istio.io/v1
            kind: DestinationRule
            metadata:
              name: proxy
            spec:
              host: {B}
              trafficPolicy:
                tls:
                  mode: DISABLE
                proxyProtocol:
                  version: V1
            """, "proxy", "proxyProtocol");
    }
}
