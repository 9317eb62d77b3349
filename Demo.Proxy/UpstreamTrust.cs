using System.Net.Security;
using System.Security.Cryptography.X509Certificates;

namespace Demo.Proxy;

/// <summary>How the upstream client verifies an HTTPS upstream: the system's roots, plus one local CA when configured.</summary>
public static class UpstreamTrust
{
    /// <summary>
    /// TLS client options trusting the system's roots and, when <paramref name="trustedCaPath"/> is set, the CAs in that
    /// PEM file too (the host name is always checked). A chain to a local CA is built with that CA as the only root.
    /// </summary>
    public static SslClientAuthenticationOptions ClientOptions(string? trustedCaPath)
    {
        var options = new SslClientAuthenticationOptions();
        if (string.IsNullOrEmpty(trustedCaPath))
        {
            return options;
        }
        var roots = new X509Certificate2Collection();
        roots.ImportFromPemFile(trustedCaPath);
        options.RemoteCertificateValidationCallback = (_, certificate, _, errors) =>
        {
            if (errors == SslPolicyErrors.None)
            {
                return true;
            }
            if (certificate is null || (errors & (SslPolicyErrors.RemoteCertificateNotAvailable | SslPolicyErrors.RemoteCertificateNameMismatch)) != 0)
            {
                return false;
            }
            using var chain = new X509Chain();
            chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
            chain.ChainPolicy.CustomTrustStore.AddRange(roots);
            chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
            return chain.Build(new X509Certificate2(certificate));
        };
        return options;
    }
}
