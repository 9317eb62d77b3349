using System.Diagnostics;
using System.Globalization;
using Demo.EgressGateway.Istio;
using Demo.EgressGateway.Mesh;

namespace Demo.EgressGateway.Tests;

/// <summary>
/// Fuzzing of the YAML loader: random mutations of the valid deploy/istio documents must each either load (and then
/// analyze and compile) or be refused with diagnostics that name the file and the place — never an exception that
/// escapes, never a hang.
/// </summary>
public sealed class YamlFuzzTests(ITestOutputHelper output)
{
    // Reproducible by default: a fixed set of cases, seeds BaseSeed .. BaseSeed + Cases - 1 (one seed per case, so a
    // failing case is replayed alone with DEMO_FUZZ_SEED=<seed> DEMO_FUZZ_CASES=1). DEMO_FUZZ_SEED picks another
    // set and DEMO_FUZZ_CASES another size, e.g. a long run with fresh seeds: DEMO_FUZZ_SEED=$RANDOM DEMO_FUZZ_CASES=100000.
    private const int DefaultBaseSeed = 20_260_601;
    private const int DefaultCases = 5000;

    // Generous for a shared 2-core machine: a case takes milliseconds (the slowest about 1 s, under load); only a
    // hang or a blow-up gets near it.
    private static readonly TimeSpan PerCaseLimit = TimeSpan.FromSeconds(20);

    private static int EnvironmentInt(string name, int fallback) =>
        int.TryParse(Environment.GetEnvironmentVariable(name), NumberStyles.Integer, CultureInfo.InvariantCulture, out var value) ? value : fallback;

    internal static IReadOnlyList<(string Path, string Text)> ValidDocuments() =>
        Directory.EnumerateFiles(ConfigFolder.DeployIstio)
            .Where(IstioConfigLoader.IsConfigFile)
            .Order(StringComparer.Ordinal)
            .Select(path => (path, File.ReadAllText(path)))
            .ToList();

    [Fact]
    public void The_valid_documents_load_without_errors()
    {
        var documents = ValidDocuments();
        var outcome = Run(documents, documents.Count, 0, documents[0].Text);
        Assert.True(outcome.Loaded, string.Join("\n", outcome.Diagnostics));
        Assert.True(documents.Count >= 8);
    }

    [Fact]
    public async Task Mutated_documents_load_or_are_refused_with_file_and_field_never_an_exception_or_a_hang()
    {
        var baseSeed = EnvironmentInt("DEMO_FUZZ_SEED", DefaultBaseSeed);
        var cases = EnvironmentInt("DEMO_FUZZ_CASES", DefaultCases);
        var documents = ValidDocuments();
        var failures = new List<string>();
        int loaded = 0, refused = 0;
        var slowest = TimeSpan.Zero;
        var slowestCase = "";
        var total = Stopwatch.StartNew();

        for (var i = 0; i < cases && failures.Count < 10; i++)
        {
            var seed = baseSeed + i;
            Trace($"seed {seed}");
            var random = new Random(seed);
            var index = random.Next(documents.Count);
            var mutated = new YamlMutator(random).Mutate(documents[index].Text, out var description);
            var what = $"seed {seed}: {Path.GetFileName(documents[index].Path)}: {description}";
            Trace($"{what} ({mutated.Length} chars)");

            var watch = Stopwatch.StartNew();
            Outcome outcome;
            try
            {
                outcome = await Task.Run(() => Run(documents, index, seed, mutated)).WaitAsync(PerCaseLimit);
            }
            catch (TimeoutException)
            {
                failures.Add($"{what}: no answer within {PerCaseLimit.TotalSeconds} s (hang)" + Sample(mutated));
                continue;
            }
            watch.Stop();
            if (watch.Elapsed > slowest)
            {
                (slowest, slowestCase) = (watch.Elapsed, what);
            }

            if (outcome.Failure is { } failure)
            {
                failures.Add($"{what}: {failure}" + Sample(mutated));
            }
            else if (outcome.Loaded)
            {
                loaded++;
            }
            else
            {
                refused++;
            }
        }

        output.WriteLine($"YAML fuzzing: {loaded + refused + failures.Count} cases (seeds {baseSeed}..{baseSeed + cases - 1}) in {total.Elapsed.TotalSeconds:0.0} s: "
            + $"{loaded} loaded, {refused} refused, {failures.Count} failed; slowest {slowest.TotalMilliseconds:0} ms ({slowestCase})");
        Assert.True(failures.Count == 0, string.Join("\n\n", failures));
        Assert.True(cases < 100 || (loaded > 0 && refused > 0), $"the mutations should produce both outcomes: {loaded} loaded, {refused} refused");
    }

    // A crash of the test process (stack overflow, out of memory) reports nothing: DEMO_FUZZ_TRACE=<file> writes
    // each case before it runs, so the last line names the culprit.
    private static void Trace(string line)
    {
        if (Environment.GetEnvironmentVariable("DEMO_FUZZ_TRACE") is { Length: > 0 } file)
        {
            File.AppendAllText(file, line + "\n");
        }
    }

    private static string Sample(string yaml) =>
        "\n--- yaml (first 1500 chars) ---\n" + (yaml.Length > 1500 ? yaml[..1500] + "…" : yaml);

    internal sealed record Outcome(bool Loaded, IReadOnlyList<ConfigDiagnostic> Diagnostics, string? Failure);

    /// <summary>Parses every document (one of them mutated), then analyzes and compiles like the gateway does.</summary>
    internal static Outcome Run(IReadOnlyList<(string Path, string Text)> documents, int mutatedIndex, int seed, string mutated)
    {
        var mutatedFile = mutatedIndex < documents.Count ? documents[mutatedIndex].Path : "";
        try
        {
            var resources = new List<IstioResource>();
            var diagnostics = new List<ConfigDiagnostic>();
            for (var i = 0; i < documents.Count; i++)
            {
                var set = IstioConfigLoader.Parse(documents[i].Path, i == mutatedIndex ? mutated : documents[i].Text);
                resources.AddRange(set.Resources);
                diagnostics.AddRange(set.Diagnostics);
            }
            var config = new IstioConfigSet(resources, diagnostics);
            // What the gateway and `analyze` run: the loader's findings, the analyzer's, the translation's checks.
            var options = new EgressGatewayOptions { ConfigDirectory = ConfigFolder.DeployIstio };
            var analysis = ConfigAnalysis.Run(config, options.ToMeshEnvironment());
            var all = analysis.Diagnostics.ToList();

            var knownFiles = documents.Select(d => d.Path).ToHashSet(StringComparer.Ordinal);
            foreach (var diagnostic in all)
            {
                if (!knownFiles.Contains(diagnostic.File))
                {
                    return new(false, all, $"diagnostic names no file of the folder: {diagnostic}");
                }
                if (string.IsNullOrWhiteSpace(diagnostic.Message))
                {
                    return new(false, all, $"diagnostic without a message: {diagnostic}");
                }
                // About a resource: it names the field. About the file as a whole (not YAML, too big): a line, or nothing more.
                if (diagnostic.Severity == DiagnosticSeverity.Error && diagnostic.Resource is not null && string.IsNullOrEmpty(diagnostic.Field)
                    && diagnostic.Line is null)
                {
                    return new(false, all, $"error about a resource names neither a field nor a line: {diagnostic}");
                }
            }
            foreach (var error in diagnostics.Where(d => d.Severity == DiagnosticSeverity.Error))
            {
                if (error.File != mutatedFile)
                {
                    return new(false, all, $"the loader blames a file that was not changed: {error}");
                }
            }

            if (all.Any(d => d.Severity == DiagnosticSeverity.Error))
            {
                return new(false, all, null);
            }

            // What the gateway does next with a configuration without errors: it must not throw either.
            var compiled = new MeshSnapshotCompiler(new ClusterManager(TimeProvider.System), options)
                .Compile(config, options.ToMeshEnvironment(), analysis.Xds!, seed);
            _ = compiled.Sidecar.FindListener(80)?.Match(null, "raw_buffer")?.Routes?.FindVirtualHost("hello.external");
            _ = Demo.EgressGateway.Envoy.ConfigDump.ToJson(compiled.Xds.Sidecar);
            _ = Demo.EgressGateway.Envoy.ConfigDump.ToJson(compiled.Xds.Gateway);
            return new(true, all, null);
        }
        catch (Exception ex)
        {
            return new(false, [], $"{ex.GetType().Name} escaped: {ex.Message}\n{ex.StackTrace}");
        }
    }
}
