using System.Formats.Asn1;
using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Demo.EgressGateway.Mesh;

/// <summary>
/// istiod's self-signed CA for the trust domain <c>cluster.local</c>, kept in memory (istio/istio
/// <c>security/pkg/pki/ca</c> <c>NewSelfSignedIstioCAOptions</c>, certificates as <c>security/pkg/pki/util/generate_cert.go</c>
/// makes them). The root: subject <c>O=cluster.local</c>, 10 years, basicConstraints CA:true (critical), keyUsage
/// keyCertSign (critical; istiod sets no cRLSign), a subject key identifier. A workload certificate (an X.509-SVID):
/// empty subject, one critical SAN holding only the SPIFFE URI, 24 h (istiod's default <c>WORKLOAD_CERT_TTL</c>) from
/// 2 minutes before issuance (<c>ClockSkewGracePeriod</c>), basicConstraints CA:false, keyUsage
/// digitalSignature|keyEncipherment, EKU serverAuth+clientAuth, an authority key identifier, a random 128-bit serial.
/// Keys are ECDSA P-256 (istiod's default root and istio-agent's default workload key are RSA 2048; ECDSA is
/// istio-agent's <c>ECC_SIGNATURE_ALGORITHM=ECDSA</c>). Thread-safe.
/// </summary>
public sealed class MeshCertificateAuthority : IDisposable
{
    /// <summary>The trust domain: the host part of every SPIFFE id, and the root's organization.</summary>
    public const string TrustDomain = "cluster.local";

    private static readonly TimeSpan WorkloadCertificateLifetime = TimeSpan.FromHours(24); // istiod's WORKLOAD_CERT_TTL
    private static readonly TimeSpan RootLifetime = TimeSpan.FromDays(3650);
    // istio generate_cert.go ClockSkewGracePeriod: a workload certificate is valid from 2 minutes before it is issued.
    private static readonly TimeSpan ClockSkewGracePeriod = TimeSpan.FromMinutes(2);
    private const string SubjectAltNameOid = "2.5.29.17";
    private static readonly Asn1Tag UriTag = new(TagClass.ContextSpecific, 6);

    private readonly TimeProvider _time;
    private readonly X509Certificate2 _rootWithKey;
    private readonly ECDsa _rootKey;
    private readonly Dictionary<string, X509Certificate2> _issued = new(StringComparer.Ordinal);
    private readonly Dictionary<X509Certificate2, SslStreamCertificateContext> _contexts = new(ReferenceEqualityComparer.Instance);
    // Replaced certificates may still be in use by an SslStream: they are disposed with the authority.
    private readonly List<X509Certificate2> _retired = [];
    private readonly Lock _lock = new();
    private bool _disposed;

    /// <summary>Creates the root (ECDSA P-256, valid from now for 10 years, subject <c>O=cluster.local</c>).</summary>
    /// <param name="time">The clock for validity periods, re-issuance and <see cref="Validate"/>.</param>
    public MeshCertificateAuthority(TimeProvider time)
    {
        _time = time;
        _rootKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"O={TrustDomain}", _rootKey, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign, true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        var now = time.GetUtcNow();
        _rootWithKey = request.CreateSelfSigned(now, now + RootLifetime);
        Root = X509CertificateLoader.LoadCertificate(_rootWithKey.RawData);
    }

    /// <summary>The root certificate, without its private key: what workloads get as their trust bundle (root-cert.pem).</summary>
    public X509Certificate2 Root { get; }

    /// <summary>
    /// <c>spiffe://cluster.local/ns/&lt;ns&gt;/sa/&lt;serviceAccount&gt;</c> (istio <c>pkg/spiffe</c> <c>Identity.String</c>).
    /// </summary>
    /// <exception cref="ArgumentException">An empty namespace or service account.</exception>
    public static string SpiffeId(string ns, string serviceAccount)
    {
        ArgumentException.ThrowIfNullOrEmpty(ns);
        ArgumentException.ThrowIfNullOrEmpty(serviceAccount);
        return $"spiffe://{TrustDomain}/ns/{ns}/sa/{serviceAccount}";
    }

    /// <summary>
    /// The workload certificate of a service account, with its private key, usable as an SslStream server or client
    /// certificate. One per identity is kept and returned again until less than half of its lifetime is left (the
    /// istio-agent rotates at <c>SECRET_GRACE_PERIOD_RATIO</c> 0.5); then a new one (new key) is issued. The
    /// certificate belongs to the authority: do not dispose it.
    /// </summary>
    /// <exception cref="ArgumentException">An empty namespace or service account.</exception>
    /// <exception cref="ObjectDisposedException">The authority is disposed.</exception>
    public X509Certificate2 WorkloadCertificate(string ns, string serviceAccount)
    {
        var id = SpiffeId(ns, serviceAccount);
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            var now = _time.GetUtcNow();
            if (_issued.TryGetValue(id, out var cached))
            {
                if (cached.NotAfter.ToUniversalTime() - now.UtcDateTime >= (cached.NotAfter - cached.NotBefore) / 2)
                {
                    return cached;
                }
                _retired.Add(cached);
            }
            var issued = Issue(id, now);
            _issued[id] = issued;
            return issued;
        }
    }

    /// <summary>
    /// <see cref="WorkloadCertificate"/> as an <see cref="SslStreamCertificateContext"/> for
    /// <c>ServerCertificateContext</c>/<c>ClientCertificateContext</c>: made once per issued certificate (making one
    /// builds its chain), so a handshake only signs — as Envoy's TLS context holds its certificate for every connection.
    /// </summary>
    /// <exception cref="ArgumentException">An empty namespace or service account.</exception>
    /// <exception cref="ObjectDisposedException">The authority is disposed.</exception>
    public SslStreamCertificateContext WorkloadCertificateContext(string ns, string serviceAccount)
    {
        var certificate = WorkloadCertificate(ns, serviceAccount);
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (!_contexts.TryGetValue(certificate, out var context))
            {
                context = SslStreamCertificateContext.Create(certificate, additionalCertificates: null, offline: true);
                _contexts[certificate] = context;
            }
            return context;
        }
    }

    /// <summary>
    /// The mesh's validation context as an SslStream's <c>CertificateChainPolicy</c>: the root as the only trust anchor
    /// (custom root trust), no revocation check, and the authority's clock as verification time when it is not the
    /// system clock. SslStream then builds the peer's chain once, with this, and hands it to the validation callback
    /// for <see cref="ValidatePeer"/>. A new policy per call (SslStream may keep it).
    /// </summary>
    public X509ChainPolicy ChainPolicy()
    {
        var policy = new X509ChainPolicy
        {
            TrustMode = X509ChainTrustMode.CustomRootTrust,
            RevocationMode = X509RevocationMode.NoCheck,
            DisableCertificateDownloads = true,
        };
        policy.CustomTrustStore.Add(Root);
        if (_time != TimeProvider.System)
        {
            policy.VerificationTime = _time.GetUtcNow().UtcDateTime;
        }
        return policy;
    }

    private X509Certificate2 Issue(string spiffeId, DateTimeOffset now)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest(new X500DistinguishedName([0x30, 0x00]), key, HashAlgorithmName.SHA256);
        var san = new SubjectAlternativeNameBuilder();
        san.AddUri(new Uri(spiffeId));
        request.CertificateExtensions.Add(san.Build(critical: true));
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(
            X509KeyUsageFlags.DigitalSignature | X509KeyUsageFlags.KeyEncipherment, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension(
            [new Oid("1.3.6.1.5.5.7.3.1"), new Oid("1.3.6.1.5.5.7.3.2")], false));
        request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(_rootWithKey, true, false));

        var serial = RandomNumberGenerator.GetBytes(16);
        serial[0] &= 0x7F;
        var rootNotAfter = new DateTimeOffset(_rootWithKey.NotAfter);
        var notAfter = now + WorkloadCertificateLifetime < rootNotAfter ? now + WorkloadCertificateLifetime : rootNotAfter;
        // The generator overload: the certificate may start before the root does (as Go's x509 allows).
        using var publicOnly = request.Create(_rootWithKey.SubjectName, X509SignatureGenerator.CreateForECDsa(_rootKey),
            now - ClockSkewGracePeriod, notAfter, serial);
        return publicOnly.CopyWithPrivateKey(key);
    }

    /// <summary>
    /// <see cref="Validate(X509Certificate2?, out string?, out string?)"/> for the certificate an SslStream validation
    /// callback receives (an <see cref="X509Certificate"/>, loaded as an <see cref="X509Certificate2"/> when needed).
    /// </summary>
    public bool Validate(X509Certificate? presented, out string? spiffeId, out string? reason) =>
        Validate(presented as X509Certificate2 ?? (presented is null ? null : X509CertificateLoader.LoadCertificate(presented.GetRawCertData())),
            out spiffeId, out reason);

    /// <summary>
    /// Whether <paramref name="presented"/> is a workload certificate of this mesh, as a sidecar's validation context
    /// (the root as trusted CA, the peer's SPIFFE URI SAN as identity) decides: its chain must build to
    /// <see cref="Root"/> alone (custom root trust, no revocation check, validity at the authority's clock) and it must
    /// carry exactly one <c>spiffe://</c> URI SAN (SPIFFE X.509-SVID §2).
    /// </summary>
    /// <param name="presented">The peer certificate; null when none was sent.</param>
    /// <param name="spiffeId">The peer's SPIFFE id when valid, else null.</param>
    /// <param name="reason">Why not when invalid: <c>no certificate</c>, <c>not issued by the mesh CA: &lt;chain
    /// status&gt;</c>, <c>no SPIFFE URI SAN</c>, <c>more than one SPIFFE URI SAN</c>; null when valid.</param>
    public bool Validate(X509Certificate2? presented, out string? spiffeId, out string? reason)
    {
        if (presented is null)
        {
            return ValidatePeer(null, null, SslPolicyErrors.RemoteCertificateNotAvailable, out spiffeId, out reason);
        }
        using var chain = new X509Chain { ChainPolicy = ChainPolicy() };
        try
        {
            var errors = chain.Build(presented) ? SslPolicyErrors.None : SslPolicyErrors.RemoteCertificateChainErrors;
            return ValidatePeer(presented, chain, errors, out spiffeId, out reason);
        }
        finally
        {
            foreach (var element in chain.ChainElements)
            {
                element.Certificate.Dispose();
            }
        }
    }

    /// <summary>
    /// <see cref="Validate(X509Certificate2?, out string?, out string?)"/> inside an SslStream validation callback whose
    /// options carry <see cref="ChainPolicy"/>: the chain SslStream built is read, none is built again. A name mismatch
    /// is ignored (a sidecar checks the peer's SPIFFE id, never its SNI against a DNS name).
    /// </summary>
    /// <param name="presented">The certificate the callback received; null when the peer sent none.</param>
    /// <param name="chain">The chain the callback received (built with <see cref="ChainPolicy"/>).</param>
    /// <param name="errors">The callback's policy errors.</param>
    /// <param name="spiffeId">The peer's SPIFFE id when valid, else null.</param>
    /// <param name="reason">Why not, as <see cref="Validate(X509Certificate2?, out string?, out string?)"/> words it.</param>
    public bool ValidatePeer(X509Certificate? presented, X509Chain? chain, SslPolicyErrors errors, out string? spiffeId, out string? reason)
    {
        spiffeId = null;
        if (presented is null || errors.HasFlag(SslPolicyErrors.RemoteCertificateNotAvailable))
        {
            reason = "no certificate";
            return false;
        }
        if (chain is null)
        {
            return Validate(presented, out spiffeId, out reason);
        }
        if (errors.HasFlag(SslPolicyErrors.RemoteCertificateChainErrors))
        {
            reason = "not issued by the mesh CA: " + string.Join("; ",
                chain.ChainStatus.Select(s => $"{s.Status}: {s.StatusInformation.Trim()}").Distinct());
            return false;
        }
        var end = chain.ChainElements[^1].Certificate;
        if (!end.RawDataMemory.Span.SequenceEqual(Root.RawDataMemory.Span))
        {
            reason = $"not issued by the mesh CA: the chain ends at '{end.Subject}'";
            return false;
        }
        var uris = SpiffeUris(presented as X509Certificate2 ?? X509CertificateLoader.LoadCertificate(presented.GetRawCertData()));
        if (uris.Count != 1)
        {
            reason = uris.Count == 0 ? "no SPIFFE URI SAN" : "more than one SPIFFE URI SAN";
            return false;
        }
        spiffeId = uris[0];
        reason = null;
        return true;
    }

    private static List<string> SpiffeUris(X509Certificate2 certificate) =>
        [.. UriSans(certificate).Where(uri => uri.StartsWith("spiffe://", StringComparison.Ordinal))];

    /// <summary>
    /// The certificate's URI SANs, in order (GeneralName uniformResourceIdentifier [6] IA5String, RFC 5280 §4.2.1.6,
    /// read from the DER: X509SubjectAlternativeNameExtension enumerates DNS names and IP addresses only). None for a
    /// certificate without a SAN extension or with a malformed one.
    /// </summary>
    public static IReadOnlyList<string> UriSans(X509Certificate certificate)
    {
        var uris = new List<string>();
        using var certificate2 = certificate as X509Certificate2 is null ? X509CertificateLoader.LoadCertificate(certificate.GetRawCertData()) : null;
        if ((certificate2 ?? (X509Certificate2)certificate).Extensions[SubjectAltNameOid] is not { } san)
        {
            return uris;
        }
        try
        {
            var names = new AsnReader(san.RawData, AsnEncodingRules.DER).ReadSequence();
            while (names.HasData)
            {
                if (names.PeekTag() != UriTag)
                {
                    names.ReadEncodedValue();
                }
                else
                {
                    uris.Add(names.ReadCharacterString(UniversalTagNumber.IA5String, UriTag));
                }
            }
        }
        catch (AsnContentException)
        {
            // A malformed SAN extension names nothing.
        }
        return uris;
    }

    /// <summary>Disposes the root, its key and every workload certificate issued; later calls do nothing.</summary>
    public void Dispose()
    {
        lock (_lock)
        {
            if (!_disposed)
            {
                _disposed = true;
                _contexts.Clear();
                foreach (var certificate in _issued.Values.Concat(_retired).Append(Root).Append(_rootWithKey))
                {
                    certificate.Dispose();
                }
                _rootKey.Dispose();
            }
        }
    }
}
