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
        for (var i = 0; i < args.Length; i++)
        {
            if (args[i] == "--scenario" && i + 1 < args.Length)
            {
                scenarios.Add(args[++i]);
            }
            else
            {
                folders.Add(args[i]);
            }
        }
        if (folders.Count == 0)
        {
            output.WriteLine("usage: Demo.EgressGateway analyze <folder>... [--scenario <name>]...");
            return 2;
        }

        var errors = 0;
        foreach (var folder in folders)
        {
            var diagnostics = Analyze(folder, scenarios);
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
        var config = IstioConfigLoader.LoadDirectory(folder, scenarios);
        return [.. config.Diagnostics, .. IstioAnalyzer.Analyze(config, environment)];
    }
}
