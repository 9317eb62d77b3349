using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using Microsoft.AspNetCore.Server.Kestrel.Https;

namespace Demo.CfRouter;

/// <summary>
/// The HTTPS port's client certificate check, as gorouter configures Go's TLS server (cloudfoundry/gorouter
/// router/router.go serveHTTPS: <c>ClientAuth</c> from <c>client_cert_validation</c>, <c>ClientCAs</c> from
/// config.go buildClientCertPool): <c>none</c> never asks; <c>request</c> asks and verifies a certificate the client
/// sends (an untrusted one fails the handshake), accepting a client that sends none; <c>require</c> fails a handshake
/// without a trusted certificate. Trusted: a chain to a CA of <see cref="CfRouterOptions.ClientCaCertsPath"/>, or to a
/// system root unless <see cref="CfRouterOptions.OnlyTrustClientCaCerts"/>.
/// </summary>
public sealed class ClientCertificateValidation
{
    private readonly X509Certificate2Collection _clientCas;
    private readonly bool _systemRoots;
    private readonly bool _ignoreCertificates;

    /// <summary>Reads the client CA bundle once (the router reads its configuration at start, as gorouter does).</summary>
    public ClientCertificateValidation(CfRouterOptions options)
    {
        Mode = options.ClientCertValidation == "require" ? ClientCertificateMode.RequireCertificate : ClientCertificateMode.AllowCertificate;
        _ignoreCertificates = options.ClientCertValidation == "none";
        _clientCas = [];
        if (!string.IsNullOrEmpty(options.ClientCaCertsPath))
        {
            _clientCas.ImportFromPemFile(options.ClientCaCertsPath);
        }
        _systemRoots = !options.OnlyTrustClientCaCerts;
    }

    /// <summary>
    /// Kestrel's mode: require for <c>require</c>, else allow. <c>none</c> asks too and ignores what comes: Kestrel's
    /// NoCertificate closes the connection of a .NET client that holds a client certificate (the egress gateway's
    /// MUTUAL origination), where Go's server that never asks serves it; the outcome is gorouter's either way.
    /// </summary>
    public ClientCertificateMode Mode { get; }

    /// <summary>
    /// Kestrel's callback, called only when the client sent a certificate (Kestrel enforces <c>require</c> itself):
    /// true when it chains to a client CA or, unless only those are trusted, to a system root.
    /// </summary>
    public bool Validate(X509Certificate2 certificate, X509Chain? chain, SslPolicyErrors errors)
    {
        if (_ignoreCertificates)
        {
            return true;
        }
        if (_clientCas.Count > 0 && ChainsTo(certificate, _clientCas))
        {
            return true;
        }
        return _systemRoots && (errors & ~SslPolicyErrors.RemoteCertificateNameMismatch) == SslPolicyErrors.None;
    }

    private static bool ChainsTo(X509Certificate2 certificate, X509Certificate2Collection roots)
    {
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.AddRange(roots);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        chain.ChainPolicy.ApplicationPolicy.Add(new("1.3.6.1.5.5.7.3.2"));
        return chain.Build(certificate);
    }
}
