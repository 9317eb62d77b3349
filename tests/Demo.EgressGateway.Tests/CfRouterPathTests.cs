using System.Security.Cryptography.X509Certificates;

namespace Demo.EgressGateway.Tests;

/// <summary>
/// Issue 9: TLS origination and the traffic split through the real local CF router, not a stand-in — the gateway
/// dials the router for both CF hosts (as DNS does in production), verifies the platform's one wildcard certificate
/// against each DestinationRule's exact <c>subjectAltNames</c>, and the router hands each request to a running
/// instance of the real CF app.
/// </summary>
public sealed class CfRouterPathTests(ITestOutputHelper output)
{
    private const int Requests = 2_000;

    [Fact]
    public async Task Through_the_CF_router_the_wildcard_certificate_verifies_against_exact_subjectAltNames_and_the_split_fits_the_weights()
    {
        await using var platform = await CfPlatform.StartWithAppsAsync(instances: 2);
        await using var gateway = await GatewayHost.StartAsync(folder =>
        {
            folder.Write(MeshYaml.SidecarFile, MeshYaml.Sidecar(50, 50, retries: MeshYaml.Retries(0, "5xx")));
            folder.Write(MeshYaml.EgressFile, MeshYaml.Egress(fault: MeshYaml.Abort(418, 10)));
        }, settings: platform.GatewayUpstreams);

        // The certificate the router serves names only the apps domain's wildcard; the rules ask for exact host names.
        using var served = X509Certificate2.CreateFromPem(
            File.ReadAllText(TestCa.Authority.EnsureServerCertificate(CfPlatform.AppsDomainWildcard).CertificatePath));
        Assert.Equal([CfPlatform.AppsDomainWildcard], served.Extensions.OfType<X509SubjectAlternativeNameExtension>().Single().EnumerateDnsNames());
        foreach (var host in new[] { GatewayHost.V1Host, GatewayHost.V2Host })
        {
            var cluster = gateway.Config.Current.Xds.Gateway.Clusters.Single(c => c.Name == $"outbound|443||{host}");
            Assert.Equal([host], cluster.UpstreamTls!.MatchSubjectAltNames);
            Assert.False(cluster.UpstreamTls.InsecureSkipVerify);
        }

        var counts = new Dictionary<string, int> { ["v1"] = 0, ["v2"] = 0, ["fault"] = 0 };
        var other = new List<(int, string)>();
        var gate = new Lock();
        await Parallel.ForEachAsync(Enumerable.Range(0, Requests), new ParallelOptions { MaxDegreeOfParallelism = 8 }, async (_, _) =>
        {
            var answer = await gateway.GetAsync();
            var outcome = answer switch
            {
                (200, "Hello K8s, from CF v1 service!") => "v1",
                (200, "Hello K8s, from CF v2 service!") => "v2",
                // Envoy's fault filter: source/extensions/filters/http/fault/fault_filter.cc, "fault filter abort".
                (418, "fault filter abort") => "fault",
                _ => null,
            };
            lock (gate)
            {
                if (outcome is null)
                {
                    other.Add(answer);
                }
                else
                {
                    counts[outcome]++;
                }
            }
        });

        Assert.True(other.Count == 0, $"{other.Count} other answers, e.g. {other.FirstOrDefault()}");
        Assert.Equal(0, gateway.Upstream.TotalHits);
        ChiSquare.AssertFits(output, "v1/v2 = 50/50, fault 10%, through the CF router",
            ("v1", counts["v1"], 45), ("v2", counts["v2"], 45), ("fault", counts["fault"], 10));
    }
}
