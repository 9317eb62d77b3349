using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using Demo.DevCertificates;

namespace Demo.CfRouter.Tests;

/// <summary>
/// gorouter's client certificate settings (cloudfoundry/gorouter config/config.go <c>client_cert_validation</c>,
/// <c>client_ca_certs</c>, <c>only_trust_client_ca_certs</c>; router/router.go serveHTTPS): <c>none</c> never asks,
/// <c>request</c> verifies a certificate the client sends and accepts a client that sends none, <c>require</c> fails a
/// handshake without a trusted one. An answer of any status (here 404 for a route nobody registered) shows the TLS
/// handshake passed; a failed handshake is an <see cref="HttpRequestException"/>.
/// </summary>
public sealed class ClientCertificateTests
{
    private static readonly Lazy<(LocalCertificateAuthority Trusted, LocalCertificateAuthority Other)> Cas = new(() =>
    (
        LocalCertificateAuthority.LoadOrCreate(Path.Combine(Path.GetTempPath(), "demo-cfrouter-tests-client-ca")),
        LocalCertificateAuthority.LoadOrCreate(Path.Combine(Path.GetTempPath(), "demo-cfrouter-tests-other-ca"), "Another CA")
    ));

    public static TheoryData<string, string, bool> Cases => new()
    {
        { "none", "no certificate", true },
        { "none", "untrusted certificate", true },
        { "none", "trusted certificate", true },
        { "request", "no certificate", true },
        { "request", "trusted certificate", true },
        { "request", "untrusted certificate", false },
        { "require", "no certificate", false },
        { "require", "trusted certificate", true },
        { "require", "untrusted certificate", false },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task The_handshake_follows_client_cert_validation(string validation, string client, bool answered)
    {
        await using var router = await RouterHost.StartAsync(new()
        {
            ["CfRouter:ClientCertValidation"] = validation,
            ["CfRouter:ClientCaCertsPath"] = Cas.Value.Trusted.CaCertificatePath,
        });
        using var http = Client(router, client switch
        {
            "trusted certificate" => Cas.Value.Trusted,
            "untrusted certificate" => Cas.Value.Other,
            _ => null,
        });

        var outcome = await Record.ExceptionAsync(() => http.GetAsync(new Uri("https://nobody.apps.example.com/")));

        if (answered)
        {
            Assert.Null(outcome);
        }
        else
        {
            Assert.IsType<HttpRequestException>(outcome);
        }
    }

    [Fact]
    public async Task Only_trusting_client_CAs_without_any_is_refused_at_start_with_gorouters_message()
    {
        var error = await Assert.ThrowsAnyAsync<Exception>(() => RouterHost.StartAsync(new()
        {
            ["CfRouter:ClientCertValidation"] = "require",
            ["CfRouter:OnlyTrustClientCaCerts"] = "true",
        }));

        Assert.Contains("router.client_ca_certs cannot be empty if router.only_trust_client_ca_certs is 'true' and "
            + "router.client_cert_validation is set to 'request' or 'require'.", error.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_unknown_client_cert_validation_is_refused_at_start_with_gorouters_message()
    {
        var error = await Assert.ThrowsAnyAsync<Exception>(() => RouterHost.StartAsync(new() { ["CfRouter:ClientCertValidation"] = "always" }));

        Assert.Contains("CfRouter:ClientCertValidation must be one of 'none', 'request' or 'require'.", error.ToString(), StringComparison.Ordinal);
    }

    private static HttpClient Client(RouterHost router, LocalCertificateAuthority? issuer)
    {
        var handler = new SocketsHttpHandler
        {
            UseProxy = false,
            ConnectCallback = async (_, token) =>
            {
                var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
                await socket.ConnectAsync(new IPEndPoint(IPAddress.Loopback, router.HttpsPort), token);
                return new NetworkStream(socket, ownsSocket: true);
            },
        };
        handler.SslOptions.RemoteCertificateValidationCallback = (_, _, _, _) => true;
        if (issuer is not null)
        {
            var folder = issuer.EnsureClientCredential("router-client", "client.example.com");
            // Offered when the server asks, as the egress gateway's upstream TLS does (UpstreamClientFactory).
            var certificate = X509Certificate2.CreateFromPemFile(Path.Combine(folder, "tls.crt"), Path.Combine(folder, "tls.key"));
            handler.SslOptions.LocalCertificateSelectionCallback = (_, _, _, _, _) => certificate;
        }
        return new HttpClient(handler) { Timeout = TimeSpan.FromSeconds(10) };
    }
}
