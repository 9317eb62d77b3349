using Demo.EgressGateway.Istio;

namespace Demo.EgressGateway.Tests;

/// <summary>
/// Mutated YAML written into the folder of a running gateway: a rejected change keeps the last good configuration
/// serving, an accepted one can be undone, and the gateway never goes down.
/// </summary>
public sealed class ConfigReloadFuzzTests(ITestOutputHelper output)
{
    // Fixed seeds (reproducible); DEMO_FUZZ_SEED shifts them like in YamlFuzzTests.
    private const int DefaultBaseSeed = 60_000;
    private const int Cases = 120;
    private static readonly System.Text.Encoding Lenient = new System.Text.UTF8Encoding(encoderShouldEmitUTF8Identifier: false);
    private static readonly string[] Answers = ["Hello K8s, from CF v1 service!", "Hello K8s, from CF v2 service!"];

    [Fact]
    public async Task Reloading_mutated_files_never_takes_the_gateway_down_and_keeps_the_last_good_config_serving()
    {
        await using var gateway = await GatewayHost.StartAsync(RoutingTests.NoFaults,
            settings: new() { ["EgressGateway:WatchConfiguration"] = "false" });
        var files = Directory.EnumerateFiles(gateway.ConfigDirectory).Where(IstioConfigLoader.IsConfigFile).Order(StringComparer.Ordinal).ToList();
        var originals = files.ToDictionary(f => f, File.ReadAllText);
        var baseSeed = int.TryParse(Environment.GetEnvironmentVariable("DEMO_FUZZ_SEED"), out var s) ? s : DefaultBaseSeed;
        int applied = 0, rejected = 0;

        for (var i = 0; i < Cases; i++)
        {
            var seed = baseSeed + i;
            var random = new Random(seed);
            var file = files[random.Next(files.Count)];
            var mutated = new YamlMutator(random).Mutate(originals[file], out var description);
            var what = $"seed {seed}: {Path.GetFileName(file)}: {description}";
            var revision = gateway.Config.Current.Revision;

            // Lone surrogates become U+FFFD on disk: a file holds bytes, not UTF-16.
            await File.WriteAllTextAsync(file, mutated, Lenient);
            var accepted = await Task.Run(gateway.Config.Reload).WaitAsync(TimeSpan.FromSeconds(30));
            if (accepted)
            {
                // A mutation Istio would accept too (a renamed subset, other weights, ...): it gets traffic, and the
                // answer is one Envoy could give for some configuration — never a crash or an unhandled 500.
                applied++;
                Assert.Equal(revision + 1, gateway.Config.Current.Revision);
                await AssertEnvoyAnswerAsync(gateway, what);
            }
            else
            {
                rejected++;
                Assert.Equal(revision, gateway.Config.Current.Revision);
                var errors = gateway.Config.LastRejection.Where(d => d.Severity == DiagnosticSeverity.Error).ToList();
                Assert.True(errors.Count > 0, what);
                Assert.All(errors, e => Assert.StartsWith(gateway.ConfigDirectory, e.File, StringComparison.Ordinal));
                Assert.Contains(await GetAsync(gateway), Answers);
            }

            await File.WriteAllTextAsync(file, originals[file]);
            if (accepted)
            {
                Assert.True(gateway.Config.Reload(), $"{what}: the original configuration no longer loads");
                Assert.Contains(await GetAsync(gateway), Answers);
            }
        }

        // Whole files gone or replaced by garbage.
        foreach (var (name, content) in new[] { ("zz-garbage.yaml", "\u0000\u0001\u0002 not: [yaml"), ("zz-empty.yaml", ""), ("zz-other.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\ndata: {}\n") })
        {
            var path = Path.Combine(gateway.ConfigDirectory, name);
            await File.WriteAllTextAsync(path, content);
            var accepted = gateway.Config.Reload();
            output.WriteLine($"{name}: {(accepted ? "applied" : "rejected")}");
            Assert.Contains(await GetAsync(gateway), Answers);
            File.Delete(path);
        }
        foreach (var file in files)
        {
            // Istio accepts any resource's deletion (routes to what is gone get 503 NC); the gateway applies it and serves.
            File.Delete(file);
            Assert.True(gateway.Config.Reload(), $"{file} deleted and refused");
            await AssertEnvoyAnswerAsync(gateway, $"{Path.GetFileName(file)} deleted");
            await File.WriteAllTextAsync(file, originals[file]);
            Assert.True(gateway.Config.Reload());
            Assert.Contains(await GetAsync(gateway), Answers);
        }

        output.WriteLine($"Hot reload fuzzing: {Cases} mutated files (seeds {baseSeed}..{baseSeed + Cases - 1}): {applied} applied, {rejected} rejected; the gateway served throughout");
        // Both branches must have run: a mutator whose every case is refused would never test the applied path.
        Assert.True(rejected > 0, "no mutation was rejected");
        Assert.True(applied > 0, "no mutation was applied");
    }

    [Fact]
    public async Task Garbage_written_while_watching_is_rejected_and_the_gateway_keeps_serving()
    {
        await using var gateway = await GatewayHost.StartAsync(RoutingTests.NoFaults);
        var file = Path.Combine(gateway.ConfigDirectory, "virtual-service-hello.yaml");
        var original = await File.ReadAllTextAsync(file);

        await File.WriteAllBytesAsync(file, [.. "apiVersion: networking.istio.io/v1\nkind: VirtualService\nspec: {http: "u8, 0xFF, 0xFE, 0x00, .. "\n  - ]]]"u8]);
        await WaitForAsync(() => gateway.Logs.Messages().Any(m => m.Contains("Rejected an Istio configuration change", StringComparison.Ordinal)));
        for (var i = 0; i < 10; i++)
        {
            Assert.Contains(await GetAsync(gateway), Answers);
        }
        Assert.Equal(1, gateway.Config.Current.Revision);
        Assert.Contains(gateway.Config.LastRejection, d => d.File == file);

        // The watcher may see the file half-written (truncated first): wait for the revision that holds it whole.
        await File.WriteAllTextAsync(file, original);
        await WaitForAsync(() => gateway.Config.Current.Revision > 1
            && gateway.Config.Current.Source.Resources.Any(r => r.Id is { Kind: "VirtualService", Name: "hello" }));
        Assert.Contains(await GetAsync(gateway), Answers);
    }

    // What Envoy answers for some configuration of this mesh: an upstream answer (200, 404 unknown_route, 418 fault),
    // a 404 NR, 502 block_all, 503 (UF/UH/NC/URX), 504 UT — or, for a port with no HTTP listener, a closed connection.
    private static async Task AssertEnvoyAnswerAsync(GatewayHost gateway, string what)
    {
        var before = gateway.Logs.Messages().Count(m => m.StartsWith("[sidecar]", StringComparison.Ordinal));
        try
        {
            var (status, body) = await gateway.GetAsync();
            Assert.True(status is 200 or 404 or 418 or 502 or 503 or 504, $"{what}: {status} {body}");
        }
        catch (HttpRequestException)
        {
            // The BlackHoleCluster closes the connection.
        }
        // The access-log line is written when the stage ends, which may be just after the client has its answer.
        var deadline = DateTime.UtcNow.AddSeconds(5);
        while (gateway.Logs.Messages().Count(m => m.StartsWith("[sidecar]", StringComparison.Ordinal)) <= before && DateTime.UtcNow < deadline)
        {
            await Task.Delay(10);
        }
        Assert.True(gateway.Logs.Messages().Count(m => m.StartsWith("[sidecar]", StringComparison.Ordinal)) > before, $"{what}: no access-log line");
    }

    private static async Task<string> GetAsync(GatewayHost gateway)
    {
        var (status, body) = await gateway.GetAsync();
        Assert.True(status == 200, $"{status} {body}");
        return body;
    }

    private static async Task WaitForAsync(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "timed out waiting for the watcher");
            await Task.Delay(50);
        }
    }
}
