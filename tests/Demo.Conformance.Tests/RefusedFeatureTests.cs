using System.Text.RegularExpressions;
using static Demo.Conformance.Tests.MeshYaml;

namespace Demo.Conformance.Tests;

/// <summary>
/// Istio cases whose feature Istio accepts but the local gateway does not reproduce: the gateway must refuse the
/// configuration at load, naming the file, the resource and the field — never start and silently ignore it
/// (issue 13: "Nothing accepted by the loader is silently ignored").
/// </summary>
public sealed class RefusedFeatureTests
{
    // The gateway refuses to start; its error names the file, then the resource as "<Kind> '<name>'" and the field's
    // full path, in the order of a diagnostic ("istio.yaml:7: error: VirtualService 'legacy-paths': spec.http[0].redirect: …"),
    // so the field is proven to be refused in that resource. Resource names differ from the fields they hold.
    private static async Task AssertRefusedAsync(string yaml, string resource, string field)
    {
        var message = await ConformanceMesh.RefusalAsync(Base(yaml));
        Assert.Matches($@"istio\.yaml:\d+: error: {Regex.Escape(resource)}: {Regex.Escape(field)}: ", message);
    }

    private static string VirtualService(string name, string routeYaml) => MeshYaml.VirtualService(name, B, routeYaml);

    // Istio case "fault abort gRPC".
    [Fact]
    public async Task GrpcStatusFaultAbortIsRefusedAtLoad()
    {
        await AssertRefusedAsync(VirtualService("unavailable-injection", $"""
                - route:
                    - destination:
                        host: {B}
                  fault:
                    abort:
                      percentage:
                        value: 100
                      grpcStatus: "UNAVAILABLE"
            """), "VirtualService 'unavailable-injection'", "spec.http[0].fault.abort.grpcStatus");
    }

    // Istio case "redirect prefix_rewrite": Istio 1.30.3's VirtualService CRD has no redirect.prefixRewrite (istio/api
    // added it after 1.30), so the API server refuses the field as unknown, and so does the loader's schema.
    [Fact]
    public async Task RedirectPrefixRewriteIsRefusedAtLoad()
    {
        await AssertRefusedAsync(VirtualService("legacy-paths", """
                - match:
                    - uri:
                        prefix: /foo/
                  redirect:
                    prefixRewrite: /new/
            """), "VirtualService 'legacy-paths'", "spec.http[0].redirect.prefixRewrite");
    }

    // Istio's EnvoyFilter (envoyFilterCases, "https with x-forwarded-proto") and RequestAuthentication (jwtClaimRoute)
    // kinds: not applied by the local gateway, so refused, naming the resource and its kind (a networking.istio.io
    // kind) or apiVersion (another group).
    [Theory]
    [InlineData("EnvoyFilter", "networking.istio.io/v1alpha3", "kind")]
    [InlineData("RequestAuthentication", "security.istio.io/v1", "apiVersion")]
    public async Task UnmodelledKindsAreRefusedAtLoad(string kind, string apiVersion, string field)
    {
        await AssertRefusedAsync($"""
            apiVersion: {apiVersion}
            kind: {kind}
            metadata:
              name: unmodelled
            spec:
              workloadSelector:
                labels:
                  app: a
            """, $"{kind} 'unmodelled'", field);
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
            """, "DestinationRule 'http2-keepalive-dr'", "spec.trafficPolicy.connectionPool.http.http2KeepAlive");
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
            """), "VirtualService 'jwt-claims'", "spec.http[0].match[0].headers.@request.auth.claims.nested.key1");
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
              name: upstream-proxy-header
            spec:
              host: {B}
              trafficPolicy:
                tls:
                  mode: DISABLE
                proxyProtocol:
                  version: V1
            """, "DestinationRule 'upstream-proxy-header'", "spec.trafficPolicy.proxyProtocol");
    }

}
