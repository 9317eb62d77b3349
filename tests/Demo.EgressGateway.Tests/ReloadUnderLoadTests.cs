using System.Collections.Concurrent;
using System.Globalization;
using Demo.Bench;
using Demo.EgressGateway.Istio;

namespace Demo.EgressGateway.Tests;

/// <summary>
/// A large configuration (hundreds of services in deploy/istio's pattern, <see cref="ScaleConfig"/>) reloaded while
/// requests flow: every request is answered by the revision serving when it started or by a later one that was serving
/// before it ended, and none fails because of the switch. Each revision changes routes (weights, a response header) and
/// clusters (the TLS-origination rules' outlier detection, so the gateway's clusters for both CF hosts start afresh,
/// as Envoy replaces a cluster whose definition changed).
/// </summary>
public sealed class ReloadUnderLoadTests(ITestOutputHelper output)
{
    private const int Services = 200;
    private const int Reloads = 3;
    private const int Workers = 4;
    private const string RevisionHeader = "x-config-revision";
    private const string SidecarFile = MeshYaml.SidecarFile;

    [Fact]
    public async Task Every_request_is_answered_by_the_old_or_the_new_revision_and_none_fails()
    {
        Dictionary<string, string> generated = [];
        await using var gateway = await GatewayHost.StartAsync(folder =>
        {
            foreach (var file in Directory.EnumerateFiles(folder.Path).Where(IstioConfigLoader.IsConfigFile))
            {
                File.Delete(file);
            }
            ScaleConfig.Write(folder.Path, Services, faultPercent: 0);
            generated = ChangedFiles.ToDictionary(name => name, folder.Read);
            WriteRevision(folder.Path, generated, 1);
        }, settings: new() { ["EgressGateway:WatchConfiguration"] = "false" });
        Assert.Equal(1, gateway.Config.Current.Revision);
        Assert.True(gateway.Config.Current.Source.Resources.Count > 6 * Services, "the generated services did not load");
        using var client = gateway.CreateClient(TimeSpan.FromSeconds(20));

        var answers = new ConcurrentQueue<(int Before, int After, int Status, string Body, int? Revision)>();
        using var stop = new CancellationTokenSource();
        var workers = Enumerable.Range(0, Workers).Select(_ => Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                var before = gateway.Config.Current.Revision;
                try
                {
                    using var response = await client.GetAsync(GatewayHost.InMeshUrl);
                    var body = await response.Content.ReadAsStringAsync();
                    var revision = response.Headers.TryGetValues(RevisionHeader, out var values)
                        && int.TryParse(values.Single(), NumberStyles.None, CultureInfo.InvariantCulture, out var r) ? r : (int?)null;
                    answers.Enqueue((before, gateway.Config.Current.Revision, (int)response.StatusCode, body, revision));
                }
                catch (HttpRequestException ex)
                {
                    answers.Enqueue((before, gateway.Config.Current.Revision, 0, ex.Message, null));
                }
            }
        })).ToList();

        for (var revision = 2; revision <= Reloads + 1; revision++)
        {
            // Some answers from the serving revision first, so that every switch happens with requests in flight.
            await WaitForAsync(() => answers.Count(a => a.Revision == revision - 1) >= 20, $"answers from revision {revision - 1}");
            WriteRevision(gateway.ConfigDirectory, generated, revision);
            Assert.True(await Task.Run(gateway.Config.Reload).WaitAsync(TimeSpan.FromSeconds(30)),
                string.Join(Environment.NewLine, gateway.Config.LastRejection));
            Assert.Equal(revision, gateway.Config.Current.Revision);
        }
        await WaitForAsync(() => answers.Count(a => a.Revision == Reloads + 1) >= 20, $"answers from revision {Reloads + 1}");
        await stop.CancelAsync();
        await Task.WhenAll(workers);

        var all = answers.ToList();
        output.WriteLine($"{all.Count} requests over {Reloads} reloads of {gateway.Config.Current.Source.Resources.Count} resources; per revision: "
            + string.Join(", ", all.GroupBy(a => a.Revision).OrderBy(g => g.Key).Select(g => $"{g.Key}: {g.Count()}")));
        Assert.All(all, a =>
        {
            Assert.True(a.Status == 200, $"{a.Status} {a.Body} (revision {a.Before} → {a.After})");
            Assert.True(a.Revision is { } r && r >= a.Before && r <= a.After, $"answered by revision {a.Revision}, serving {a.Before} → {a.After}");
            // Odd revisions send everything to v1, even ones to v2: the answer is the whole revision's, not a mix.
            Assert.Equal($"Hello K8s, from CF {(a.Revision % 2 == 1 ? "v1" : "v2")} service!", a.Body);
        });
        Assert.All(Enumerable.Range(1, Reloads + 1), r => Assert.Contains(all, a => a.Revision == r));
    }

    // Service 0's files that each revision rewrites: its sidecar route and the TLS-origination rules of its two hosts.
    private static readonly string[] ChangedFiles = [SidecarFile, "destination-rule-hello-v1.yaml", "destination-rule-hello-v2.yaml"];

    // Revision n: all of service 0's traffic to v1 (odd n) or v2 (even n), no retries (a failed try must show), the
    // revision in a response header the sidecar sets, and an outlier detection interval of its own (new clusters).
    private static void WriteRevision(string directory, IReadOnlyDictionary<string, string> generated, int revision)
    {
        var parts = generated[SidecarFile].Split("weight: 50", StringSplitOptions.None);
        Assert.Equal(3, parts.Length);
        var sidecar = $"{parts[0]}weight: {(revision % 2 == 1 ? 100 : 0)}{parts[1]}weight: {(revision % 2 == 1 ? 0 : 100)}{parts[2]}";
        var retries = sidecar.IndexOf("      retries:", StringComparison.Ordinal);
        Assert.True(retries > 0);
        ConfigFolder.WriteWhole(Path.Combine(directory, SidecarFile),
            sidecar[..retries] + $"      headers:\n        response:\n          set:\n            {RevisionHeader}: \"{revision}\"\n");
        foreach (var rule in ChangedFiles.Skip(1))
        {
            Assert.Contains("interval: 5s", generated[rule], StringComparison.Ordinal);
            ConfigFolder.WriteWhole(Path.Combine(directory, rule),
                generated[rule].Replace("interval: 5s", $"interval: {revision}s", StringComparison.Ordinal));
        }
    }

    private static async Task WaitForAsync(Func<bool> condition, string what)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, $"timed out waiting for {what}");
            await Task.Delay(20);
        }
    }
}
