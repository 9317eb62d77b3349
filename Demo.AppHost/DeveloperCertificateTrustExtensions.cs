using System.Diagnostics;
using System.Security.Cryptography.X509Certificates;

namespace Aspire.Hosting;

/// <summary>
/// Makes the ASP.NET Core development certificate trusted <em>for the current user only</em>, before Aspire looks
/// for it, so that a first run shows no "No trusted Aspire development certificate" warning in the console or
/// error banner in the dashboard.
/// </summary>
/// <remarks>
/// Aspire 13.x (<c>DcpHost.EnsureDevelopmentCertificateTrustAsync</c>, fed by <c>DeveloperCertificateService</c>)
/// warns when any resource has an https endpoint and no certificate in <c>CurrentUser/My</c> is an ASP.NET Core
/// development certificate (OID 1.3.6.1.4.1.311.84.1.1) that is valid now, has a private key, and builds a trusted
/// chain. The CF router serves https (its endpoint is declared https), so the check runs. <c>dotnet dev-certs https --trust</c> creates the certificate
/// and, on Linux, trusts it per user: the .NET user root store (<c>~/.dotnet/corefx/cryptography/x509stores/root</c>),
/// an OpenSSL folder (<c>~/.aspnet/dev-certs/trust</c>) and the user's NSS databases if any. It never writes to
/// /etc or asks for sudo; it exits 4 ("trusted by some clients but not by others") because it does not edit
/// <c>SSL_CERT_DIR</c>, which Aspire's check does not need.
/// </remarks>
internal static class DeveloperCertificateTrustExtensions
{
    /// <summary>ASP.NET Core's marker extension on its development certificates (CertificateManager.AspNetHttpsOid).</summary>
    public const string AspNetHttpsOid = "1.3.6.1.4.1.311.84.1.1";

    /// <summary>The one console line a run prints when it trusts the certificate.</summary>
    public const string Announcement =
        "Trusting the ASP.NET Core development certificate for this user only (dotnet dev-certs https --trust: ~/.dotnet and ~/.aspnet, nothing system-wide).";

    /// <summary>
    /// In run mode, trusts the development certificate for this user unless Aspire's own check already passes.
    /// Set <c>DevCertificates:Trust=false</c> to skip (Aspire then warns as usual).
    /// </summary>
    public static IDistributedApplicationBuilder TrustDevelopmentCertificateForCurrentUser(this IDistributedApplicationBuilder builder)
    {
        if (!builder.ExecutionContext.IsRunMode
            || string.Equals(builder.Configuration["DevCertificates:Trust"], "false", StringComparison.OrdinalIgnoreCase)
            || HasTrustedDevelopmentCertificate())
        {
            return builder;
        }

        Console.WriteLine(Announcement);
        var failure = RunDevCertsTrust();
        if (failure is not null || !HasTrustedDevelopmentCertificate())
        {
            Console.Error.WriteLine($"Could not trust the development certificate for this user ({failure ?? "still untrusted"}); " +
                "Aspire will warn. Run: dotnet dev-certs https --trust");
        }
        return builder;
    }

    /// <summary>The check Aspire 13.x makes before it warns: a valid development certificate with a private key whose chain is trusted.</summary>
    public static bool HasTrustedDevelopmentCertificate()
    {
        using var store = new X509Store(StoreName.My, StoreLocation.CurrentUser);
        store.Open(OpenFlags.ReadOnly);
        var now = DateTimeOffset.Now;
        foreach (var certificate in store.Certificates)
        {
            using (certificate)
            {
                if (certificate.Extensions[AspNetHttpsOid] is null || !certificate.HasPrivateKey
                    || certificate.NotBefore > now || certificate.NotAfter < now)
                {
                    continue;
                }
                using var chain = new X509Chain();
                chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
                if (chain.Build(certificate))
                {
                    return true;
                }
            }
        }
        return false;
    }

    /// <summary>Runs <c>dotnet dev-certs https --trust</c>; null on success (exit 0, or 4: trusted by .NET but not by every client).</summary>
    private static string? RunDevCertsTrust()
    {
        var dotnet = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host && File.Exists(host) ? host : "dotnet";
        var start = new ProcessStartInfo(dotnet, ["dev-certs", "https", "--trust"])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        try
        {
            using var process = Process.Start(start)!;
            var output = process.StandardOutput.ReadToEndAsync();
            var error = process.StandardError.ReadToEndAsync();
            if (!process.WaitForExit(TimeSpan.FromSeconds(60)))
            {
                process.Kill(entireProcessTree: true);
                return "dotnet dev-certs did not finish within 60 s";
            }
            return process.ExitCode is 0 or 4 ? null : $"dotnet dev-certs exited {process.ExitCode}: {(error.Result + output.Result).Trim()}";
        }
        catch (System.ComponentModel.Win32Exception ex)
        {
            return ex.Message;
        }
    }
}
