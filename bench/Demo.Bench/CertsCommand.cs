using Demo.DevCertificates;

namespace Demo.Bench;

/// <summary>The same local CA the AppHost uses, in a folder of the benchmark's own.</summary>
public static class CertsCommand
{
    public static int Run(string directory, IReadOnlyList<string> hosts)
    {
        using var ca = LocalCertificateAuthority.LoadOrCreate(directory);
        Console.WriteLine($"ca {ca.CaCertificatePath}");
        foreach (var host in hosts)
        {
            var files = ca.EnsureServerCertificate(host);
            Console.WriteLine($"{host} {files.CertificatePath} {files.KeyPath}");
        }
        return 0;
    }
}
