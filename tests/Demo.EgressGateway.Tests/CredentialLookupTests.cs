using Demo.EgressGateway.Istio;

namespace Demo.EgressGateway.Tests;

/// <summary>
/// A DestinationRule credentialName's CA, looked up as istiod's credentials controller does
/// (pilot/pkg/credentials/kube/secrets.go GetCaCert): the Secret <c>&lt;name&gt;-cacert</c> when it exists — a CA or
/// nothing —, the Secret <c>&lt;name&gt;</c> only when it does not.
/// </summary>
public sealed class CredentialLookupTests : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("demo-credentials-").FullName;

    private string Secret(string name, params string[] keys)
    {
        var folder = Path.Combine(_root, name);
        Directory.CreateDirectory(folder);
        foreach (var key in keys)
        {
            File.WriteAllText(Path.Combine(folder, key), "-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n");
        }
        return folder;
    }

    [Fact]
    public void The_cacert_Secret_is_read_when_it_exists_even_without_a_CA_and_the_named_Secret_only_when_it_does_not()
    {
        var named = Secret("client", "tls.crt", "tls.key", "ca.crt");
        var caOnly = Secret("client-cacert", "cacert");
        var empty = Secret("empty-cacert", "tls.crt");

        Assert.Equal(Path.Combine(caOnly, "cacert"), Environment(("client", named), ("client-cacert", caOnly)).CaForCredential("client"));
        Assert.Equal(Path.Combine(named, "ca.crt"), Environment(("client", named)).CaForCredential("client"));
        Assert.Null(Environment(("empty", named), ("empty-cacert", empty)).CaForCredential("empty"));
        Assert.Null(Environment().CaForCredential("client"));
    }

    private static MeshEnvironment Environment(params (string Name, string Path)[] secrets) =>
        new("istio-egressgateway.istio-system.svc.cluster.local")
        {
            Credentials = secrets.ToDictionary(s => s.Name, s => s.Path, StringComparer.Ordinal),
        };

    public void Dispose() => Directory.Delete(_root, recursive: true);
}
