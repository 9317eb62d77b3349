using System.Diagnostics;
using System.Globalization;
using Demo.EgressGateway;
using Demo.EgressGateway.Envoy;
using Demo.EgressGateway.Istio;
using Demo.EgressGateway.Mesh;

namespace Demo.Bench;

/// <summary>
/// <c>scale-phases</c>: what one revision of a folder costs, phase by phase, in this process — as the gateway builds a
/// revision (<see cref="MeshSnapshotProvider"/>): load (YAML → resources), analyze, translate (Istio → Envoy), the
/// translation's checks, and the executable snapshot; plus the bytes each phase allocates and the managed heap one
/// revision keeps alive. Rounds run back to back (the first pays for JIT); the fastest round of each phase is printed.
/// </summary>
public static class ScalePhasesCommand
{
    private static readonly string[] Phases = ["load", "analyze", "translate", "check", "snapshot"];

    public static int Run(string directory, Arguments arguments)
    {
        var rounds = (int)arguments.Number("rounds", 3);
        var environment = new MeshEnvironment();
        var best = Phases.ToDictionary(p => p, _ => (Ms: double.MaxValue, Bytes: 0L));
        long retained = 0;
        for (var round = 0; round < rounds; round++)
        {
            var before = GC.GetTotalMemory(forceFullCollection: true);
            var clock = Stopwatch.StartNew();
            var allocated = GC.GetAllocatedBytesForCurrentThread();
            void Done(string phase)
            {
                var now = GC.GetAllocatedBytesForCurrentThread();
                if (clock.Elapsed.TotalMilliseconds < best[phase].Ms)
                {
                    best[phase] = (clock.Elapsed.TotalMilliseconds, now - allocated);
                }
                allocated = now;
                clock.Restart();
            }
            var config = IstioConfigLoader.LoadDirectory(directory);
            Done("load");
            var diagnostics = IstioAnalyzer.Analyze(config, environment);
            Done("analyze");
            var xds = IstioTranslator.Translate(config, environment);
            Done("translate");
            var findings = RouteClusterCheck.Check(config, xds);
            Done("check");
            var snapshot = new MeshSnapshotCompiler(new ClusterManager(TimeProvider.System), new EgressGatewayOptions { ConfigDirectory = directory })
                .Compile(config, environment, xds, revision: 1);
            Done("snapshot");
            if (diagnostics.Concat(findings).Any(d => d.Severity == DiagnosticSeverity.Error))
            {
                Console.Error.WriteLine($"{directory} has errors: {diagnostics.Concat(findings).First(d => d.Severity == DiagnosticSeverity.Error)}");
                return 1;
            }
            if (round == 0)
            {
                retained = GC.GetTotalMemory(forceFullCollection: true) - before;
            }
            GC.KeepAlive(snapshot);
        }
        foreach (var phase in Phases)
        {
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{phase} {best[phase].Ms:F0} ms {best[phase].Bytes / 1048576.0:F1} MB"));
        }
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"retained {retained / 1048576.0:F1} MB"));
        return 0;
    }
}
