using System.ComponentModel.DataAnnotations;

namespace Demo.CfApps;

public sealed class CfAppOptions
{
    public const string SectionName = "CfApp";

    /// <summary>The version this instance answers as, e.g. <c>v1</c>.</summary>
    [Required, RegularExpression("^v[0-9]+$", ErrorMessage = "CfApp:Version must look like 'v1' or 'v2'.")]
    public string Version { get; set; } = "";

    /// <summary>
    /// Host names routed to this app, like CF routes. A request whose Host is none of them gets
    /// gorouter's 404 <c>unknown_route</c>.
    /// </summary>
    [Required, MinLength(1, ErrorMessage = "CfApp:Routes needs at least one host name.")]
    public List<string> Routes { get; set; } = [];

    /// <summary>
    /// Local run only: serve the app over HTTPS on this port with the certificate below. In Cloud Foundry
    /// this stays unset: the gorouter terminates TLS and the app listens on plain HTTP (<c>$PORT</c>).
    /// </summary>
    [Range(1, 65535)]
    public int? HttpsPort { get; set; }

    /// <summary>PEM certificate (SAN = the route) for <see cref="HttpsPort"/>.</summary>
    public string? CertificatePath { get; set; }

    /// <summary>PEM private key of <see cref="CertificatePath"/>.</summary>
    public string? CertificateKeyPath { get; set; }

    /// <summary>
    /// Local run only: a plain-HTTP port that serves the health endpoints and nothing else, so that a
    /// health checker that does not trust the local CA can still probe the app.
    /// </summary>
    [Range(1, 65535)]
    public int? ManagementPort { get; set; }
}
