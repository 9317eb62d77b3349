using Demo.EgressGateway.Istio;

namespace Demo.EgressGateway;

/// <summary>
/// <c>analyze &lt;folder&gt; [--scenario name]...</c>: the loader's and analyzer's findings; exit code 1 on any
/// error or warning (a warning is a mistake Istio accepts but that breaks egress traffic).
/// </summary>
public static class IstioAnalyzeCommand
{
    public static int Run(string[] args, TextWriter output)
    {
        var folders = new List<string>();
        var scenarios = new List<string>();
        var environment = new MeshEnvironment();
        for (var i = 0; i < args.Length; i++)
        {
            if (args[i] == "--scenario" && i + 1 < args.Length)
            {
                scenarios.Add(args[++i]);
            }
            else if (args[i] == "--istio-version" && i + 1 < args.Length)
            {
                if (!IstioVersion.TryParse(args[++i], out var version))
                {
                    output.WriteLine($"--istio-version '{args[i]}' is not an Istio version from {IstioVersion.Oldest} to {IstioVersion.Newest}");
                    return 2;
                }
                environment = environment with { IstioVersion = version };
            }
            else
            {
                folders.Add(args[i]);
            }
        }
        if (folders.Count == 0)
        {
            output.WriteLine("usage: Demo.EgressGateway analyze <folder>... [--scenario <name>]... [--istio-version 1.22-1.30]");
            return 2;
        }

        var errors = 0;
        foreach (var folder in folders)
        {
            var diagnostics = Analyze(folder, scenarios, environment);
            foreach (var diagnostic in diagnostics)
            {
                output.WriteLine(diagnostic);
            }
            errors += diagnostics.Count;
            output.WriteLine($"{folder}: {diagnostics.Count(d => d.Severity == DiagnosticSeverity.Error)} error(s), {diagnostics.Count(d => d.Severity == DiagnosticSeverity.Warning)} warning(s)");
        }
        return errors == 0 ? 0 : 1;
    }

    public static IReadOnlyList<ConfigDiagnostic> Analyze(string folder, IReadOnlyList<string> scenarios, MeshEnvironment? environment = null)
    {
        return ConfigAnalysis.Run(IstioConfigLoader.LoadDirectory(folder, scenarios), environment).Diagnostics;
    }
}
