using System.Security.Cryptography.X509Certificates;
using Demo.DevCertificates;
using Demo.EgressGateway.Mesh;

namespace Demo.EgressGateway.Tests;

/// <summary>
/// TLS origination refuses what Envoy refuses: a certificate from a CA it does not trust, or out of its validity
/// period, gets 503 with flag UF, a warning naming the reason, and no request on the upstream. (A wrong SAN is in
/// <see cref="RoutingTests"/>.) Only an explicit <c>insecureSkipVerify: true</c> turns verification off, and it says so.
/// </summary>
public sealed class TlsOriginationTests
{
    private const string V1Rule = "destination-rule-hello-istio-v1.yaml";
    private const string V2Rule = "destination-rule-hello-istio-v2.yaml";
    private static readonly Dictionary<string, string> Routes = new() { [GatewayHost.V1Host] = "v1", [GatewayHost.V2Host] = "v2" };

    private static readonly Lazy<X509Certificate2> UntrustedCa = new(() =>
        LocalCertificateAuthority.CreateCa("Untrusted test CA", DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(30)));

    private static Task<TestUpstream> UntrustedUpstreamAsync() => TestUpstream.StartAsync(UntrustedCa.Value, Routes);

    // Expired a minute ago; issued no earlier than the (test run's) CA itself.
    private static Task<TestUpstream> ExpiredUpstreamAsync() => TestUpstream.StartAsync(TestCa.Certificate, Routes,
        host => LocalCertificateAuthority.IssueServerCertificate(TestCa.Certificate, host,
            new DateTimeOffset(TestCa.Certificate.NotBefore), DateTimeOffset.UtcNow.AddMinutes(-1)));

    private static Task<TestUpstream> NotYetValidUpstreamAsync() => TestUpstream.StartAsync(TestCa.Certificate, Routes,
        host => LocalCertificateAuthority.IssueServerCertificate(TestCa.Certificate, host,
            DateTimeOffset.UtcNow.AddDays(1), DateTimeOffset.UtcNow.AddDays(30)));

    private static async Task AssertRefusedAsync(GatewayHost gateway, params string[] reasons)
    {
        for (var i = 0; i < 4; i++)
        {
            var (status, body) = await gateway.GetAsync();
            Assert.True(status == 503, $"{status} {body}");
            // Once outlier detection (deploy/istio: 3 consecutive gateway errors) has ejected the host: 503 UH.
            Assert.True(body.StartsWith("upstream connect error or disconnect/reset before headers", StringComparison.Ordinal)
                || body == "no healthy upstream", body);
        }
        Assert.Equal(0, gateway.Upstream.TotalHits);
        var warnings = gateway.Logs.Messages(LogLevel.Warning).ToList();
        Assert.Contains(warnings, m => m.StartsWith("TLS origination to hello-istio-v", StringComparison.Ordinal)
            && reasons.Any(r => m.Contains(r, StringComparison.Ordinal)));
        Assert.Contains(gateway.Logs.Messages(), m => m.Contains(" 503 UF", StringComparison.Ordinal));
        Assert.DoesNotContain(gateway.Logs.Messages(), m => m.Contains("INSECURE", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_certificate_from_an_untrusted_CA_is_refused_with_503_UF_naming_the_reason()
    {
        await using var gateway = await GatewayHost.StartAsync(RoutingTests.NoFaults, await UntrustedUpstreamAsync());
        await AssertRefusedAsync(gateway, "UntrustedRoot", "PartialChain");
    }

    [Fact]
    public async Task An_expired_certificate_is_refused_with_503_UF_naming_the_reason()
    {
        await using var gateway = await GatewayHost.StartAsync(RoutingTests.NoFaults, await ExpiredUpstreamAsync());
        await AssertRefusedAsync(gateway, "NotTimeValid");
    }

    [Fact]
    public async Task A_certificate_not_yet_valid_is_refused_with_503_UF_naming_the_reason()
    {
        await using var gateway = await GatewayHost.StartAsync(RoutingTests.NoFaults, await NotYetValidUpstreamAsync());
        await AssertRefusedAsync(gateway, "NotTimeValid");
    }

    [Fact]
    public async Task Without_a_trusted_CA_file_the_system_store_decides_and_refuses_the_local_CA()
    {
        await using var gateway = await GatewayHost.StartAsync(RoutingTests.NoFaults,
            settings: new() { ["EgressGateway:TrustedCaPath"] = "" });
        await AssertRefusedAsync(gateway, "UntrustedRoot", "PartialChain");
    }

    [Fact]
    public async Task InsecureSkipVerify_true_is_honoured_and_logged_loudly_at_start()
    {
        await using var gateway = await GatewayHost.StartAsync(folder =>
        {
            RoutingTests.NoFaults(folder);
            foreach (var rule in new[] { V1Rule, V2Rule })
            {
                folder.Replace(rule, "          mode: SIMPLE\n", "          mode: SIMPLE\n          insecureSkipVerify: true\n");
            }
        }, await UntrustedUpstreamAsync());

        // Logged at start, before any request, naming the rule and the host.
        var warnings = gateway.Logs.Messages(LogLevel.Warning).ToList();
        Assert.Contains(warnings, m => m.StartsWith("INSECURE: DestinationRule 'hello-istio-v1'", StringComparison.Ordinal)
            && m.Contains(GatewayHost.V1Host, StringComparison.Ordinal));
        Assert.Contains(warnings, m => m.StartsWith("INSECURE: DestinationRule 'hello-istio-v2'", StringComparison.Ordinal));

        for (var i = 0; i < 10; i++)
        {
            var (status, body) = await gateway.GetAsync();
            Assert.True(status == 200, $"{status} {body}");
        }
        Assert.True(gateway.Upstream.TotalHits == 10);
        Assert.Contains(gateway.Logs.Messages(LogLevel.Warning), m => m.StartsWith("INSECURE: TLS to hello-istio-v", StringComparison.Ordinal));
    }

    /// <summary>
    /// Every other TLS setting keeps verification on: each variant still refuses an untrusted certificate. (MUTUAL is
    /// refused at load: RefusedFeatureTests in the conformance suite.) A credentialName verifies against the CA
    /// configured to stand for its Secret (EgressGateway:Credentials), here the trusted test CA.
    /// </summary>
    [Theory]
    [InlineData("insecureSkipVerify: false", "          mode: SIMPLE\n", "          mode: SIMPLE\n          insecureSkipVerify: false\n")]
    [InlineData("no subjectAltNames", "          subjectAltNames:\n", "          otherSubjectAltNames:\n")]
    [InlineData("no sni", "          sni: ", "          #sni: ")]
    [InlineData("caCertificates that does not exist", "          mode: SIMPLE\n", "          mode: SIMPLE\n          caCertificates: /nonexistent/ca.pem\n")]
    [InlineData("credentialName", "          mode: SIMPLE\n", "          mode: SIMPLE\n          credentialName: some-secret\n")]
    [InlineData("top-level tls instead of port-level", "    portLevelSettings:\n      - port:\n          number: 443\n        tls:\n", "    tls:\n")]
    public async Task No_other_setting_turns_verification_off(string variant, string find, string replacement)
    {
        await using var gateway = await GatewayHost.StartAsync(folder =>
        {
            RoutingTests.NoFaults(folder);
            foreach (var rule in new[] { V1Rule, V2Rule })
            {
                var text = folder.Read(rule);
                if (variant == "no subjectAltNames")
                {
                    // Drop the list and its item.
                    var lines = text.Split('\n').ToList();
                    var at = lines.FindIndex(l => l == find.TrimEnd('\n'));
                    lines.RemoveRange(at, 2);
                    folder.Write(rule, string.Join('\n', lines));
                }
                else if (variant == "top-level tls instead of port-level")
                {
                    var host = rule == V1Rule ? GatewayHost.V1Host : GatewayHost.V2Host;
                    folder.Write(rule, $$"""
                        apiVersion: networking.istio.io/v1
                        kind: DestinationRule
                        metadata:
                          name: {{Path.GetFileNameWithoutExtension(rule)["destination-rule-".Length..]}}
                          namespace: istio-system
                        spec:
                          exportTo: ["."]
                          host: {{host}}
                          trafficPolicy:
                            tls:
                              mode: SIMPLE
                              sni: {{host}}
                              subjectAltNames: [{{host}}]
                        """);
                }
                else
                {
                    folder.Replace(rule, find, replacement);
                }
            }
        }, await UntrustedUpstreamAsync(),
            settings: variant == "credentialName" ? new() { ["EgressGateway:Credentials:some-secret"] = TestCa.Authority.CaCertificatePath } : null);

        await AssertRefusedAsync(gateway, "UntrustedRoot", "PartialChain");
        if (variant == "caCertificates that does not exist")
        {
            // Not silent either: the trust root it falls back to is named.
            Assert.Contains(gateway.Logs.Messages(LogLevel.Warning), m => m.Contains("caCertificates", StringComparison.Ordinal)
                && m.Contains("/nonexistent/ca.pem", StringComparison.Ordinal) && m.Contains("TrustedCaPath", StringComparison.Ordinal));
        }
    }

    private const string AppsDomainWildcard = "*.apps.example.com";

    // A platform's shared-domain certificate, as Cloud Foundry's gorouter serves it for every app route.
    private static Task<TestUpstream> UpstreamWithCertificateFor(string san) => TestUpstream.StartAsync(TestCa.Certificate, Routes,
        _ => LocalCertificateAuthority.IssueServerCertificate(TestCa.Certificate, san,
            DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddDays(1)));

    [Fact]
    public async Task A_wildcard_certificate_for_the_apps_domain_verifies_against_each_hosts_exact_subjectAltNames()
    {
        await using var gateway = await GatewayHost.StartAsync(RoutingTests.NoFaults, await UpstreamWithCertificateFor(AppsDomainWildcard));
        Assert.Contains("- " + GatewayHost.V1Host, File.ReadAllText(Path.Combine(gateway.ConfigDirectory, V1Rule)), StringComparison.Ordinal);

        for (var i = 0; i < 20; i++)
        {
            var (status, body) = await gateway.GetAsync();
            Assert.True(status == 200, $"{status} {body}");
        }
        Assert.True(gateway.Upstream.Hits(GatewayHost.V1Host) > 0 && gateway.Upstream.Hits(GatewayHost.V2Host) > 0);
        Assert.DoesNotContain(gateway.Logs.Messages(LogLevel.Warning), m => m.StartsWith("TLS origination", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_subjectAltNames_entry_spelled_like_the_wildcard_SAN_matches_it()
    {
        await using var gateway = await GatewayHost.StartAsync(folder =>
        {
            RoutingTests.NoFaults(folder);
            folder.Replace(V1Rule, "            - " + GatewayHost.V1Host, "            - \"" + AppsDomainWildcard + "\"");
            folder.Replace(V2Rule, "            - " + GatewayHost.V2Host, "            - \"" + AppsDomainWildcard + "\"");
        }, await UpstreamWithCertificateFor(AppsDomainWildcard));

        for (var i = 0; i < 10; i++)
        {
            var (status, body) = await gateway.GetAsync();
            Assert.True(status == 200, $"{status} {body}");
        }
    }

    [Fact]
    public async Task A_wildcard_SAN_stands_for_one_label_only_and_the_refusal_names_both_sides()
    {
        await using var gateway = await GatewayHost.StartAsync(RoutingTests.NoFaults, await UpstreamWithCertificateFor("*.example.com"));

        var (status, body) = await gateway.GetAsync();

        Assert.True(status == 503, $"{status} {body}");
        Assert.Equal(0, gateway.Upstream.TotalHits);
        Assert.Contains(gateway.Logs.Messages(LogLevel.Warning), m =>
            m.StartsWith("TLS origination to hello-istio-v", StringComparison.Ordinal)
            && m.Contains("certificate DNS SANs [*.example.com]", StringComparison.Ordinal)
            && (m.Contains($"subjectAltNames [{GatewayHost.V1Host}]", StringComparison.Ordinal)
                || m.Contains($"subjectAltNames [{GatewayHost.V2Host}]", StringComparison.Ordinal)));
        Assert.DoesNotContain(gateway.Logs.Messages(), m => m.Contains("Exception", StringComparison.Ordinal));
    }

    /// <summary>
    /// Which names a certificate from a trusted CA must carry. Istio's cluster_tls.go (setAutoSniAndAutoSanValidation,
    /// 1.22–1.30) sets auto_san_validation — the certificate must be for the request's Host — only together with
    /// auto_sni, i.e. when the rule has no <c>sni</c>, and then only without <c>subjectAltNames</c>; the rule's
    /// <c>subjectAltNames</c> become <c>match_subject_alt_names</c>. So a rule with <c>sni</c> and no
    /// <c>subjectAltNames</c> (and a ServiceEntry without any) has Envoy verify the chain and no name.
    /// </summary>
    [Theory]
    [InlineData(true, false, 200)]
    [InlineData(false, false, 503)]
    [InlineData(true, true, 503)]
    public async Task A_rule_with_sni_and_no_subjectAltNames_verifies_the_chain_but_not_the_name(bool sni, bool subjectAltNames, int expected)
    {
        const string otherName = "somebody-else.example.com";
        await using var gateway = await GatewayHost.StartAsync(folder =>
        {
            RoutingTests.NoFaults(folder);
            foreach (var rule in new[] { V1Rule, V2Rule })
            {
                if (!subjectAltNames)
                {
                    var lines = folder.Read(rule).Split('\n').ToList();
                    lines.RemoveRange(lines.FindIndex(l => l == "          subjectAltNames:"), 2);
                    folder.Write(rule, string.Join('\n', lines));
                }
                if (!sni)
                {
                    folder.Replace(rule, "          sni: ", "          #sni: ");
                }
            }
        }, await UpstreamWithCertificateFor(otherName));

        if (expected == 503)
        {
            await AssertRefusedAsync(gateway, otherName);
            return;
        }
        for (var i = 0; i < 10; i++)
        {
            var (status, body) = await gateway.GetAsync();
            Assert.True(status == expected, $"{status} {body}");
        }
        Assert.Equal(10, gateway.Upstream.TotalHits);
        Assert.DoesNotContain(gateway.Logs.Messages(LogLevel.Warning), m => m.StartsWith("TLS origination", StringComparison.Ordinal));
    }

    /// <summary>Envoy's <c>Utility::dnsNameMatch</c> (expected name, certificate SAN), case by case.</summary>
    [Theory]
    [InlineData("hello-istio-v1.apps.example.com", "hello-istio-v1.apps.example.com", true)]
    [InlineData("HELLO-istio-v1.apps.example.com", "hello-istio-v1.APPS.example.com", true)]
    [InlineData("hello-istio-v1.apps.example.com", "*.apps.example.com", true)]
    [InlineData("*.apps.example.com", "*.apps.example.com", true)]
    [InlineData("hello-istio-v1.apps.example.com", "hello-*.apps.example.com", true)]
    [InlineData("hello-istio-v1.apps.example.com", "*-v1.apps.example.com", true)]
    [InlineData("apps.example.com", "*.apps.example.com", false)]
    [InlineData("a.hello-istio-v1.apps.example.com", "*.apps.example.com", false)]
    [InlineData("hello-istio-v1.apps.example.com", "*.example.com", false)]
    [InlineData("hello-istio-v1.apps.example.com", "*.*.example.com", false)]
    [InlineData("hello-istio-v1.apps.example.com", "h*o-*.apps.example.com", false)]
    [InlineData("xn--bcher-kva.apps.example.com", "xn--*.apps.example.com", false)]
    [InlineData("hello-istio-v2.apps.example.com", "hello-istio-v1.apps.example.com", false)]
    [InlineData("*.apps.example.com", "hello-istio-v1.apps.example.com", false)]
    [InlineData("localhost", "*", false)]
    public void Dns_SAN_matching_follows_Envoy(string expected, string certificateSan, bool matches) =>
        Assert.Equal(matches, UpstreamClientFactory.DnsNameMatches(expected, certificateSan));
}
