using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Demo.DevCertificates;

/// <summary>
/// A private certificate authority kept as PEM files in one folder. Nothing is installed system-wide:
/// the local CF router loads the server certificate it issues, and the egress gateway trusts its CA file.
/// </summary>
public sealed class LocalCertificateAuthority : IDisposable
{
    public const string CaCertificateFileName = "ca.crt.pem";
    private const string CaKeyFileName = "ca.key.pem";
    private const string LockFileName = ".lock";
    private static readonly TimeSpan CaLifetime = TimeSpan.FromDays(3650);
    private static readonly TimeSpan ServerLifetime = TimeSpan.FromDays(365);
    private static readonly TimeSpan RenewBefore = TimeSpan.FromDays(7);

    private LocalCertificateAuthority(string directory, X509Certificate2 certificate)
    {
        Directory = directory;
        Certificate = certificate;
    }

    public string Directory { get; }

    /// <summary>The CA certificate, with its private key.</summary>
    public X509Certificate2 Certificate { get; }

    public string CaCertificatePath => Path.Combine(Directory, CaCertificateFileName);

    /// <summary>Loads the CA in <paramref name="directory"/>, creating it (and the folder) when absent.</summary>
    public static LocalCertificateAuthority LoadOrCreate(string directory, string commonName = "Demo local development CA")
    {
        directory = Path.GetFullPath(directory);
        System.IO.Directory.CreateDirectory(directory);
        using var _ = AcquireLock(directory);

        var certPath = Path.Combine(directory, CaCertificateFileName);
        var keyPath = Path.Combine(directory, CaKeyFileName);
        if (File.Exists(certPath) && File.Exists(keyPath))
        {
            var existing = X509Certificate2.CreateFromPemFile(certPath, keyPath);
            if (existing.NotAfter > DateTime.Now + RenewBefore)
            {
                return new LocalCertificateAuthority(directory, existing);
            }
            existing.Dispose();
        }

        var created = CreateCa(commonName, DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow + CaLifetime);
        WriteAtomically(keyPath, created.GetECDsaPrivateKey()!.ExportPkcs8PrivateKeyPem());
        WriteAtomically(certPath, created.ExportCertificatePem());
        return new LocalCertificateAuthority(directory, created);
    }

    /// <summary>Creates a throw-away CA in memory (tests: an untrusted CA).</summary>
    public static X509Certificate2 CreateCa(string commonName, DateTimeOffset notBefore, DateTimeOffset notAfter)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={commonName}", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, true, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(
            X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign | X509KeyUsageFlags.DigitalSignature, true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        return request.CreateSelfSigned(notBefore, notAfter);
    }

    /// <summary>
    /// Returns PEM paths of a server certificate for <paramref name="dnsName"/> issued by this CA, issuing a
    /// new one when it is missing, about to expire, or issued by another CA. <paramref name="dnsName"/> may be a
    /// wildcard such as <c>*.apps.example.com</c> — a platform's shared-domain certificate, as Cloud Foundry's
    /// gorouter serves for every route of the apps domain; its files are then named <c>_wildcard.apps.example.com.*.pem</c>.
    /// </summary>
    public ServerCertificateFiles EnsureServerCertificate(string dnsName)
    {
        using var _ = AcquireLock(Directory);
        var fileStem = dnsName.Replace("*", "_wildcard", StringComparison.Ordinal);
        var files = new ServerCertificateFiles(
            Path.Combine(Directory, $"{fileStem}.crt.pem"),
            Path.Combine(Directory, $"{fileStem}.key.pem"));

        if (File.Exists(files.CertificatePath) && File.Exists(files.KeyPath))
        {
            using var existing = X509Certificate2.CreateFromPemFile(files.CertificatePath, files.KeyPath);
            if (existing.NotAfter > DateTime.Now + RenewBefore && IsIssuedByThisCa(existing))
            {
                return files;
            }
        }

        using var issued = IssueServerCertificate(Certificate, dnsName,
            DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow + ServerLifetime);
        WriteAtomically(files.KeyPath, issued.GetECDsaPrivateKey()!.ExportPkcs8PrivateKeyPem());
        WriteAtomically(files.CertificatePath, issued.ExportCertificatePem());
        return files;
    }

    /// <summary>Issues a TLS server certificate whose one DNS SAN (and CN) is <paramref name="dnsName"/>, e.g. <c>*.apps.example.com</c>.</summary>
    public static X509Certificate2 IssueServerCertificate(
        X509Certificate2 issuer, string dnsName, DateTimeOffset notBefore, DateTimeOffset notAfter) =>
        Issue(issuer, dnsName, ServerAuth, notBefore, notAfter);

    /// <summary>
    /// Returns the folder of a TLS client certificate issued by this CA for <paramref name="dnsName"/> (its CN and DNS
    /// SAN; extended key usage clientAuth), laid out as the keys of a Kubernetes TLS Secret named
    /// <paramref name="secretName"/>: <c>&lt;directory&gt;/&lt;secretName&gt;/tls.crt</c>, <c>tls.key</c> (PKCS#8 PEM)
    /// and <c>ca.crt</c> (this CA) — what a DestinationRule's <c>credentialName</c> makes Istio's gateway read
    /// (istio/istio pilot/pkg/model/credentials: cert, key and CA of a MUTUAL origination). Re-issued when missing,
    /// about to expire, or issued by another CA.
    /// </summary>
    /// <exception cref="ArgumentException"><paramref name="secretName"/> is not a Kubernetes object name.</exception>
    public string EnsureClientCredential(string secretName, string dnsName)
    {
        if (!System.Text.RegularExpressions.Regex.IsMatch(secretName, "^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$"))
        {
            throw new ArgumentException($"'{secretName}' is not a Kubernetes Secret name.", nameof(secretName));
        }
        using var _ = AcquireLock(Directory);
        var folder = Path.Combine(Directory, secretName);
        var (certificatePath, keyPath, caPath) = (Path.Combine(folder, "tls.crt"), Path.Combine(folder, "tls.key"), Path.Combine(folder, "ca.crt"));
        if (File.Exists(certificatePath) && File.Exists(keyPath) && File.Exists(caPath))
        {
            using var existing = X509Certificate2.CreateFromPemFile(certificatePath, keyPath);
            if (existing.NotAfter > DateTime.Now + RenewBefore && IsIssuedByThisCa(existing))
            {
                return folder;
            }
        }
        System.IO.Directory.CreateDirectory(folder);
        using var issued = Issue(Certificate, dnsName, ClientAuth, DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow + ServerLifetime);
        WriteAtomically(keyPath, issued.GetECDsaPrivateKey()!.ExportPkcs8PrivateKeyPem());
        WriteAtomically(certificatePath, issued.ExportCertificatePem());
        WriteAtomically(caPath, Certificate.ExportCertificatePem());
        return folder;
    }

    private const string ServerAuth = "1.3.6.1.5.5.7.3.1";
    private const string ClientAuth = "1.3.6.1.5.5.7.3.2";

    private static X509Certificate2 Issue(
        X509Certificate2 issuer, string dnsName, string extendedKeyUsage, DateTimeOffset notBefore, DateTimeOffset notAfter)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={dnsName}", key, HashAlgorithmName.SHA256);
        var san = new SubjectAlternativeNameBuilder();
        san.AddDnsName(dnsName);
        request.CertificateExtensions.Add(san.Build());
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid(extendedKeyUsage)], false));
        request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(issuer, true, false));

        var serial = RandomNumberGenerator.GetBytes(16);
        serial[0] &= 0x7F;
        var effectiveNotAfter = notAfter < issuer.NotAfter ? notAfter : new DateTimeOffset(issuer.NotAfter);
        using var publicOnly = request.Create(issuer, notBefore, effectiveNotAfter, serial);
        return publicOnly.CopyWithPrivateKey(key);
    }

    private bool IsIssuedByThisCa(X509Certificate2 certificate)
    {
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.Add(Certificate);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        return chain.Build(certificate);
    }

    private static void WriteAtomically(string path, string contents)
    {
        var temp = path + "." + Guid.NewGuid().ToString("N") + ".tmp";
        File.WriteAllText(temp, contents);
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(temp, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        }
        File.Move(temp, path, overwrite: true);
    }

    // Several processes (two CF mocks, parallel test hosts) may create the CA at the same moment.
    private static FileStream AcquireLock(string directory)
    {
        var lockPath = Path.Combine(directory, LockFileName);
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (true)
        {
            try
            {
                return new FileStream(lockPath, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
            }
            catch (IOException) when (DateTime.UtcNow < deadline)
            {
                Thread.Sleep(50);
            }
        }
    }

    public void Dispose() => Certificate.Dispose();
}

public sealed record ServerCertificateFiles(string CertificatePath, string KeyPath);
