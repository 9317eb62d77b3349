using System.Security.Cryptography.X509Certificates;
using Demo.EgressGateway.Mesh;

namespace Demo.Bench;

/// <summary>
/// Mesh workload certificates for the two-nginx anchor (bench/run.sh): the same CA and X.509-SVIDs the gateway issues
/// itself (<see cref="MeshCertificateAuthority"/>: ECDSA P-256, one URI SAN <c>spiffe://cluster.local/ns/&lt;ns&gt;/sa/&lt;sa&gt;</c>,
/// EKU serverAuth+clientAuth), written as PEM files so that nginx can present and verify them.
/// </summary>
public static class MeshCertsCommand
{
    /// <summary>
    /// Writes <c>root-cert.pem</c> and, per identity <c>&lt;ns&gt;/&lt;sa&gt;</c>, <c>&lt;ns&gt;.&lt;sa&gt;.pem</c> and
    /// <c>&lt;ns&gt;.&lt;sa&gt;.key.pem</c> (PKCS#8) into <paramref name="directory"/>; prints <c>ca &lt;path&gt;</c>, then
    /// <c>&lt;ns&gt;/&lt;sa&gt; &lt;cert&gt; &lt;key&gt;</c> per identity. Exit code 2 for an identity that is not <c>ns/sa</c>.
    /// </summary>
    public static int Run(string directory, IReadOnlyList<string> identities)
    {
        Directory.CreateDirectory(directory);
        using var authority = new MeshCertificateAuthority(TimeProvider.System);
        var root = Path.Combine(directory, "root-cert.pem");
        File.WriteAllText(root, authority.Root.ExportCertificatePem() + "\n");
        Console.WriteLine($"ca {root}");
        foreach (var identity in identities)
        {
            if (identity.Split('/') is not [{ Length: > 0 } ns, { Length: > 0 } serviceAccount])
            {
                Console.Error.WriteLine($"'{identity}' is not <namespace>/<service account>");
                return 2;
            }
            var certificate = authority.WorkloadCertificate(ns, serviceAccount);
            var cert = Path.Combine(directory, $"{ns}.{serviceAccount}.pem");
            var key = Path.Combine(directory, $"{ns}.{serviceAccount}.key.pem");
            File.WriteAllText(cert, certificate.ExportCertificatePem() + "\n");
            using (var privateKey = certificate.GetECDsaPrivateKey()!)
            {
                File.WriteAllText(key, privateKey.ExportPkcs8PrivateKeyPem() + "\n");
            }
            Console.WriteLine($"{identity} {cert} {key}");
        }
        return 0;
    }
}
