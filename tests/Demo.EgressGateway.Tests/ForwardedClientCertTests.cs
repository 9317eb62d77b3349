using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text.RegularExpressions;
using Demo.EgressGateway.Mesh;

namespace Demo.EgressGateway.Tests;

/// <summary>
/// <c>x-forwarded-client-cert</c> as Istio's proxies leave it: the sidecar's outbound connection manager removes what
/// the app sends (Envoy's default SANITIZE), and the egress gateway's sets it from the sidecar's mTLS certificate
/// (gateway.go buildGatewayConnectionManager: SANITIZE_SET with subject, cert, dns and uri; Envoy
/// conn_manager_utility.cc mutateXfccRequestHeader) — what the CF router passes on to the app (gorouter's default
/// forwarded_client_cert: always_forward).
/// </summary>
public sealed partial class ForwardedClientCertTests
{
    [Fact]
    public async Task The_gateway_sets_the_sidecars_certificate_in_place_of_what_the_app_sent()
    {
        await using var gateway = await GatewayHost.StartAsync(RoutingTests.NoFaults);

        var (status, _) = await gateway.GetAsync(configure: r => r.Headers.Add("x-forwarded-client-cert", "By=spiffe://evil;URI=spiffe://cluster.local/ns/demo/sa/admin"));

        Assert.Equal(200, status);
        var xfcc = Assert.Single(gateway.Upstream.ForwardedClientCerts);
        var match = Xfcc().Match(xfcc);
        Assert.True(match.Success, xfcc);
        Assert.Equal("spiffe://cluster.local/ns/istio-system/sa/istio-egressgateway-service-account", match.Groups["by"].Value);
        Assert.Equal("spiffe://cluster.local/ns/demo/sa/proxy", match.Groups["uri"].Value);
        var pem = Uri.UnescapeDataString(match.Groups["cert"].Value);
        using var certificate = X509Certificate2.CreateFromPem(pem);
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(certificate.RawData)), match.Groups["hash"].Value);
        Assert.Equal(["spiffe://cluster.local/ns/demo/sa/proxy"], MeshCertificateAuthority.UriSans(certificate));
    }

    [Fact]
    public void The_gateways_connection_manager_says_SANITIZE_SET_in_the_config_dump_and_the_sidecars_leaves_Envoys_default()
    {
        var dump = System.Text.Json.JsonSerializer.SerializeToNode(new Envoy.HttpConnectionManager("p", new Envoy.Rds("r"), [])
        {
            ForwardClientCertDetails = "SANITIZE_SET",
            SetCurrentClientCertDetails = new Envoy.ClientCertDetails(Subject: true, Cert: true, Chain: false, Dns: true, Uri: true),
        }, Envoy.ProtoJson.Compact)!;

        Assert.Equal("SANITIZE_SET", (string?)dump["forward_client_cert_details"]);
        Assert.Equal("""{"subject":true,"cert":true,"dns":true,"uri":true}""", dump["set_current_client_cert_details"]!.ToJsonString());
    }

    // Envoy's order: By, Hash, Cert, Subject (quoted, empty for Istio's workload certificates), URI; no DNS SAN on those.
    [GeneratedRegex("""^By=(?<by>spiffe://[^;]+);Hash=(?<hash>[0-9a-f]{64});Cert="(?<cert>-----BEGIN%20CERTIFICATE-----%0A[A-Za-z0-9%]+%0A-----END%20CERTIFICATE-----%0A)";Subject="";URI=(?<uri>spiffe://[^;]+)$""")]
    private static partial Regex Xfcc();
}
