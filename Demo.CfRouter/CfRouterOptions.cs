using System.ComponentModel.DataAnnotations;

namespace Demo.CfRouter;

/// <summary>
/// The router's settings (section <c>CfRouter</c>), named after gorouter's configuration
/// (cloudfoundry/gorouter <c>config/config.go</c>); defaults are gorouter's unless said otherwise.
/// </summary>
public sealed class CfRouterOptions
{
    public const string SectionName = "CfRouter";

    /// <summary>The HTTPS port app routes are served on (gorouter's <c>ssl_port</c>, 443 on a platform). HTTP/1.1 only.</summary>
    [Range(1, 65535)]
    public int HttpsPort { get; set; }

    /// <summary>
    /// The plain-HTTP status port (gorouter's <c>status.port</c>): <c>/health</c>, the route table at <c>GET /routes</c>
    /// and route registration (<c>POST /routes/register</c>, <c>/routes/unregister</c>), which a platform sends over
    /// NATS as <c>router.register</c> / <c>router.unregister</c>.
    /// </summary>
    [Range(1, 65535)]
    public int StatusPort { get; set; }

    /// <summary>PEM certificate for the apps domain, e.g. SAN <c>*.apps.example.com</c> (the platform's shared-domain certificate).</summary>
    [Required]
    public string CertificatePath { get; set; } = "";

    /// <summary>PEM private key of <see cref="CertificatePath"/>.</summary>
    [Required]
    public string CertificateKeyPath { get; set; } = "";

    /// <summary>
    /// Whether the HTTPS port asks clients for a certificate (gorouter's <c>router.client_cert_validation</c>,
    /// cloudfoundry/gorouter config/config.go): <c>none</c> (Go's <c>tls.NoClientCert</c>), <c>request</c>
    /// (<c>VerifyClientCertIfGiven</c>: asked for, verified when sent; routing-release's default) or <c>require</c>
    /// (<c>RequireAndVerifyClientCert</c>: a handshake without a trusted client certificate fails).
    /// </summary>
    [Required, RegularExpression("^(none|request|require)$", ErrorMessage = "CfRouter:ClientCertValidation must be one of 'none', 'request' or 'require'.")]
    public string ClientCertValidation { get; set; } = "request";

    /// <summary>
    /// PEM bundle of CAs client certificates are verified against (gorouter's <c>client_ca_certs</c>), added to the
    /// system's roots unless <see cref="OnlyTrustClientCaCerts"/>; empty: the system's roots only.
    /// </summary>
    public string? ClientCaCertsPath { get; set; }

    /// <summary>
    /// Verify client certificates against <see cref="ClientCaCertsPath"/> only, not the system's roots (gorouter's
    /// <c>only_trust_client_ca_certs</c>, default false; config.go buildClientCertPool).
    /// </summary>
    public bool OnlyTrustClientCaCerts { get; set; }

    /// <summary>
    /// The lowest TLS version the HTTPS port accepts (gorouter's <c>router.min_tls_version</c>; empty or <c>TLSv1.2</c>
    /// by default). <c>TLSv1.2</c> or <c>TLSv1.3</c> here: gorouter's TLSv1.0/1.1 are refused at start, as this
    /// machine's TLS library no longer offers them.
    /// </summary>
    [RegularExpression("^(|TLSv1.2|TLSv1.3)$", ErrorMessage = "CfRouter:MinTlsVersion must be TLSv1.2 or TLSv1.3 here (gorouter's TLSv1.0 and TLSv1.1 are not available locally).")]
    public string MinTlsVersion { get; set; } = "TLSv1.2";

    /// <summary>
    /// The highest TLS version the HTTPS port speaks (gorouter's <c>router.max_tls_version</c>: <c>TLSv1.2</c> by
    /// default, so a missing client certificate fails the handshake itself, as TLS 1.2 has it).
    /// </summary>
    [RegularExpression("^(|TLSv1.2|TLSv1.3)$", ErrorMessage = "router.max_tls_version should be one of \"TLSv1.2\" or \"TLSv1.3\"")]
    public string MaxTlsVersion { get; set; } = "TLSv1.2";

    /// <summary>The TLS versions from <see cref="MinTlsVersion"/> to <see cref="MaxTlsVersion"/>.</summary>
    public System.Security.Authentication.SslProtocols TlsVersions =>
        (MinTlsVersion is "TLSv1.3" ? 0 : System.Security.Authentication.SslProtocols.Tls12)
        | (MaxTlsVersion is "TLSv1.3" ? System.Security.Authentication.SslProtocols.Tls13 : 0);

    /// <summary>Attempts per request over the route's instances (routing-release <c>router.max_attempts</c>, default 3).</summary>
    [Range(1, 100)]
    public int MaxAttempts { get; set; } = 3;

    /// <summary>A registration not renewed for this long is pruned (<c>droplet_stale_threshold</c>, 120 s).</summary>
    [Range(typeof(TimeSpan), "00:00:01", "01:00:00")]
    public TimeSpan DropletStaleThreshold { get; set; } = TimeSpan.FromSeconds(120);

    /// <summary>How often stale registrations are pruned (<c>prune_stale_droplets_interval</c>, 30 s).</summary>
    [Range(typeof(TimeSpan), "00:00:00.100", "01:00:00")]
    public TimeSpan PruneStaleDropletsInterval { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// After start, how long the router waits for registrations before it treats a route without instances as unknown
    /// (<c>start_response_delay_interval</c>, 5 s).
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:00", "00:10:00")]
    public TimeSpan StartResponseDelayInterval { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>Connect timeout to an instance (<c>endpoint_dial_timeout</c>, 5 s).</summary>
    [Range(typeof(TimeSpan), "00:00:00.100", "00:10:00")]
    public TimeSpan EndpointDialTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>Time allowed for an instance's response (<c>endpoint_timeout</c>, 60 s).</summary>
    [Range(typeof(TimeSpan), "00:00:01", "01:00:00")]
    public TimeSpan EndpointTimeout { get; set; } = TimeSpan.FromSeconds(60);
}
