using System.Collections.Concurrent;
using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using Demo.EgressGateway.Envoy;

namespace Demo.EgressGateway.Mesh;

/// <summary>
/// The certificates a gateway listener's DownstreamTlsContext names by SDS, as the gateway's Envoy gets them: the
/// workload certificate (<c>default</c>) and the mesh root (<c>ROOTCA</c>) from the local mesh CA; any other name from
/// the secret the translation resolved (<see cref="ProxyConfig.Secrets"/>: a Secret of EgressGateway:Credentials or the
/// server's PEM files). A name without a secret is Envoy's not-ready secret: the handshake cannot be made.
/// Certificates read from files are cached by path and last write time, so a rotated file is read again.
/// </summary>
public sealed class DownstreamTlsCredentials(MeshCertificateAuthority authority)
{
    private readonly ConcurrentDictionary<(string, string, DateTime, DateTime), SslStreamCertificateContext> _served = new();
    private readonly ConcurrentDictionary<(string, DateTime), X509Certificate2Collection> _trusted = new();

    /// <summary>
    /// The certificate the listener serves; null when its secret is not supplied (<paramref name="missing"/> names it).
    /// </summary>
    /// <param name="workload">The gateway's own workload certificate (for <c>default</c>).</param>
    public SslStreamCertificateContext? ServerCertificate(ProxyConfig gateway, DownstreamTlsContext tls, Func<SslStreamCertificateContext> workload, out string? missing)
    {
        missing = null;
        var name = tls.CommonTlsContext.TlsCertificateSdsSecretConfigs is [var config, ..] ? config.Name : SdsSecretConfig.WorkloadCertificate;
        if (name == SdsSecretConfig.WorkloadCertificate)
        {
            return workload();
        }
        if (gateway.FindSecret(name)?.TlsCertificate is not { CertificateChain.Filename: { } chain, PrivateKey.Filename: { } key })
        {
            missing = name;
            return null;
        }
        return _served.GetOrAdd((chain, key, File.GetLastWriteTimeUtc(chain), File.GetLastWriteTimeUtc(key)),
            static entry => SslStreamCertificateContext.Create(X509Certificate2.CreateFromPemFile(entry.Item1, entry.Item2), null));
    }

    /// <summary>
    /// Validates a client certificate against the listener's validation context: the mesh CA for <c>ROOTCA</c> (the
    /// identity is the SPIFFE URI SAN), otherwise the secret's CA bundle (identities: the certificate's DNS and URI SANs).
    /// </summary>
    public bool ValidateClient(ProxyConfig gateway, DownstreamTlsContext tls, X509Certificate certificate, X509Chain? chain,
        SslPolicyErrors errors, out IReadOnlyList<string> identities, out string? reason)
    {
        identities = [];
        var root = tls.CommonTlsContext.CombinedValidationContext?.ValidationContextSdsSecretConfig.Name;
        if (root == SdsSecretConfig.MeshRoot || root is null)
        {
            var valid = authority.ValidatePeer(certificate, chain, errors, out var spiffeId, out reason);
            identities = spiffeId is null ? [] : [spiffeId];
            return valid;
        }
        if (gateway.FindSecret(root)?.ValidationContext?.TrustedCa.Filename is not { } caFile || !File.Exists(caFile))
        {
            reason = $"the client CA secret {root} is not supplied";
            return false;
        }
        var trusted = _trusted.GetOrAdd((caFile, File.GetLastWriteTimeUtc(caFile)), static entry =>
        {
            var collection = new X509Certificate2Collection();
            collection.ImportFromPemFile(entry.Item1);
            return collection;
        });
        var presented = certificate as X509Certificate2 ?? X509CertificateLoader.LoadCertificate(certificate.GetRawCertData());
        using var custom = new X509Chain();
        custom.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        custom.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        custom.ChainPolicy.CustomTrustStore.AddRange(trusted);
        if (!custom.Build(presented))
        {
            reason = $"the client certificate is not signed by the CA of {root}";
            return false;
        }
        reason = null;
        identities = [.. presented.Extensions.OfType<X509SubjectAlternativeNameExtension>().SelectMany(san => san.EnumerateDnsNames())];
        return true;
    }
}
