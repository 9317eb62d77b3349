using System.Formats.Asn1;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Demo.EgressGateway.Mesh;
using Microsoft.Extensions.Time.Testing;

namespace Demo.EgressGateway.Tests;

/// <summary>
/// The in-memory istiod CA issues certificates shaped as istiod's (root O=cluster.local; workload certificates with
/// only a SPIFFE URI SAN, 24 h, serverAuth+clientAuth), validates peers by chain and SPIFFE id, and its certificates
/// carry a real mutual-TLS handshake between two SslStreams.
/// </summary>
public sealed class MeshCertificateAuthorityTests
{
    private const string GatewayNs = "istio-system";
    private const string GatewaySa = "istio-egressgateway-service-account";

    [Fact]
    public void The_root_is_a_self_signed_CA_for_the_trust_domain_without_its_private_key()
    {
        using var ca = new MeshCertificateAuthority(TimeProvider.System);
        var root = ca.Root;
        Assert.False(root.HasPrivateKey);
        Assert.Equal("O=cluster.local", root.Subject);
        Assert.Equal(root.Subject, root.Issuer);
        var constraints = Assert.Single(root.Extensions.OfType<X509BasicConstraintsExtension>());
        Assert.True(constraints.CertificateAuthority);
        Assert.True(constraints.Critical);
        Assert.True(Assert.Single(root.Extensions.OfType<X509KeyUsageExtension>()).KeyUsages.HasFlag(X509KeyUsageFlags.KeyCertSign));
        Assert.Single(root.Extensions.OfType<X509SubjectKeyIdentifierExtension>());
        Assert.InRange((root.NotAfter - root.NotBefore).TotalDays, 3649, 3651);
        Assert.Equal("ECC", root.PublicKey.Oid.FriendlyName);
    }

    [Fact]
    public void A_workload_certificate_carries_only_its_SPIFFE_id_for_24_hours_and_is_cached()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        using var ca = new MeshCertificateAuthority(time);
        var issuedAt = time.GetUtcNow();
        var certificate = ca.WorkloadCertificate("demo", "proxy");

        Assert.Equal("spiffe://cluster.local/ns/demo/sa/proxy", MeshCertificateAuthority.SpiffeId("demo", "proxy"));
        var san = Assert.Single(certificate.Extensions, e => e.Oid?.Value == "2.5.29.17");
        Assert.True(san.Critical);
        Assert.Equal(["spiffe://cluster.local/ns/demo/sa/proxy"], GeneralNames(san));
        Assert.Equal("", certificate.Subject);
        Assert.Equal([0x30, 0x00], certificate.SubjectName.RawData);
        Assert.True(certificate.HasPrivateKey);
        Assert.Equal(ca.Root.Subject, certificate.Issuer);
        var ekus = Assert.Single(certificate.Extensions.OfType<X509EnhancedKeyUsageExtension>()).EnhancedKeyUsages
            .Cast<Oid>().Select(o => o.Value).ToList();
        Assert.Equal(["1.3.6.1.5.5.7.3.1", "1.3.6.1.5.5.7.3.2"], ekus);
        Assert.Equal(X509KeyUsageFlags.DigitalSignature | X509KeyUsageFlags.KeyEncipherment,
            Assert.Single(certificate.Extensions.OfType<X509KeyUsageExtension>()).KeyUsages);
        Assert.False(Assert.Single(certificate.Extensions.OfType<X509BasicConstraintsExtension>()).CertificateAuthority);
        Assert.Equal(TimeSpan.FromHours(24), certificate.NotAfter.ToUniversalTime() - TruncateToSeconds(issuedAt.UtcDateTime));
        Assert.Equal(TimeSpan.FromMinutes(2), TruncateToSeconds(issuedAt.UtcDateTime) - certificate.NotBefore.ToUniversalTime());

        Assert.Same(certificate, ca.WorkloadCertificate("demo", "proxy"));
        Assert.NotSame(certificate, ca.WorkloadCertificate(GatewayNs, GatewaySa));
        time.Advance(TimeSpan.FromHours(11));
        Assert.Same(certificate, ca.WorkloadCertificate("demo", "proxy"));
        time.Advance(TimeSpan.FromHours(1.1)); // less than half of 24 h left: re-issued
        var renewed = ca.WorkloadCertificate("demo", "proxy");
        Assert.NotSame(certificate, renewed);
        Assert.True(renewed.NotAfter > certificate.NotAfter);
    }

    [Fact]
    public void Validate_accepts_the_mesh_s_certificates_and_refuses_others_with_a_reason()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        using var ca = new MeshCertificateAuthority(time);
        var workload = ca.WorkloadCertificate(GatewayNs, GatewaySa);
        Assert.True(ca.Validate(workload, out var id, out var reason), reason);
        Assert.Equal($"spiffe://cluster.local/ns/{GatewayNs}/sa/{GatewaySa}", id);
        Assert.Null(reason);

        Assert.False(ca.Validate(null, out id, out reason));
        Assert.Null(id);
        Assert.Equal("no certificate", reason);

        using var foreign = ForeignCertificate("spiffe://cluster.local/ns/demo/sa/proxy");
        Assert.False(ca.Validate(foreign, out id, out reason));
        Assert.Null(id);
        Assert.StartsWith("not issued by the mesh CA: ", reason, StringComparison.Ordinal);

        // Another mesh's root has the same subject (O=cluster.local) but another key.
        using var other = new MeshCertificateAuthority(time);
        Assert.False(ca.Validate(other.WorkloadCertificate("demo", "proxy"), out _, out reason));
        Assert.StartsWith("not issued by the mesh CA: ", reason, StringComparison.Ordinal);

        time.Advance(TimeSpan.FromHours(25));
        Assert.False(ca.Validate(workload, out _, out reason));
        Assert.Contains("NotTimeValid", reason, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Two_workload_certificates_carry_a_mutual_TLS_handshake_and_each_side_sees_the_other_s_SPIFFE_id()
    {
        using var ca = new MeshCertificateAuthority(TimeProvider.System);
        var (client, accepted) = await LoopbackPair.ConnectAsync();
        using var _ = client;
        using var __ = accepted;
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));

        string? clientSeen = null, serverSeen = null, clientReason = null, serverReason = null;
        await using var server = new SslStream(accepted.GetStream());
        await using var tls = new SslStream(client.GetStream());
        var serverHandshake = server.AuthenticateAsServerAsync(new SslServerAuthenticationOptions
        {
            ServerCertificate = ca.WorkloadCertificate(GatewayNs, GatewaySa),
            ClientCertificateRequired = true,
            ApplicationProtocols = [new("istio-peer-exchange"), new("istio"), SslApplicationProtocol.Http11],
            RemoteCertificateValidationCallback = (_, certificate, _, _) =>
                ca.Validate(certificate as X509Certificate2, out serverSeen, out serverReason),
        }, timeout.Token);
        var clientHandshake = tls.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
        {
            TargetHost = "outbound_.443_._.istio-egressgateway.istio-system.svc.cluster.local",
            ClientCertificates = [ca.WorkloadCertificate("demo", "proxy")],
            ApplicationProtocols = [new("istio-peer-exchange"), new("istio")],
            RemoteCertificateValidationCallback = (_, certificate, _, _) =>
                ca.Validate(certificate as X509Certificate2, out clientSeen, out clientReason),
        }, timeout.Token);
        await Task.WhenAll(serverHandshake, clientHandshake);

        Assert.True(clientReason is null && serverReason is null, $"client: {clientReason}; server: {serverReason}");
        Assert.Equal($"spiffe://cluster.local/ns/{GatewayNs}/sa/{GatewaySa}", clientSeen);
        Assert.Equal("spiffe://cluster.local/ns/demo/sa/proxy", serverSeen);
        Assert.True(server.IsMutuallyAuthenticated);
        Assert.Equal("istio-peer-exchange", server.NegotiatedApplicationProtocol.ToString());
        Assert.Equal("istio-peer-exchange", tls.NegotiatedApplicationProtocol.ToString());

        await tls.WriteAsync("ping"u8.ToArray(), timeout.Token);
        var read = new byte[4];
        await server.ReadExactlyAsync(read, timeout.Token);
        Assert.Equal("ping"u8.ToArray(), read);
    }

    // The SubjectAltName's GeneralNames as "spiffe://…" (URI) or "<tag>:…" for any other kind.
    private static List<string> GeneralNames(X509Extension san)
    {
        var names = new List<string>();
        var sequence = new AsnReader(san.RawData, AsnEncodingRules.DER).ReadSequence();
        var uri = new Asn1Tag(TagClass.ContextSpecific, 6);
        while (sequence.HasData)
        {
            var tag = sequence.PeekTag();
            names.Add(tag == uri ? sequence.ReadCharacterString(UniversalTagNumber.IA5String, uri)
                : $"{tag.TagValue}:{Convert.ToHexString(sequence.ReadEncodedValue().Span)}");
        }
        return names;
    }

    // A certificate shaped as the mesh's, issued by an unrelated CA.
    private static X509Certificate2 ForeignCertificate(string spiffeId)
    {
        using var caKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var caRequest = new CertificateRequest("O=cluster.local", caKey, HashAlgorithmName.SHA256);
        caRequest.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        caRequest.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign, true));
        using var foreignCa = caRequest.CreateSelfSigned(DateTimeOffset.UtcNow.AddHours(-1), DateTimeOffset.UtcNow.AddDays(1));
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest(new X500DistinguishedName([0x30, 0x00]), key, HashAlgorithmName.SHA256);
        var san = new SubjectAlternativeNameBuilder();
        san.AddUri(new Uri(spiffeId));
        request.CertificateExtensions.Add(san.Build(critical: true));
        using var issued = request.Create(foreignCa, DateTimeOffset.UtcNow.AddMinutes(-1), DateTimeOffset.UtcNow.AddHours(1), [1, 2, 3, 4]);
        return issued.CopyWithPrivateKey(key);
    }

    private static DateTime TruncateToSeconds(DateTime value) => new(value.Ticks - value.Ticks % TimeSpan.TicksPerSecond, value.Kind);
}
