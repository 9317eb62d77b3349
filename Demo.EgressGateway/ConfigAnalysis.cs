using Demo.EgressGateway.Envoy;
using Demo.EgressGateway.Istio;

namespace Demo.EgressGateway;

/// <summary>
/// One configuration revision read, analysed and translated once: the loader's findings, the analyzer's
/// (<see cref="IstioAnalyzer"/>, as <c>istioctl analyze</c> on the resources), the translation istiod would push
/// (<see cref="IstioTranslator"/>) when nothing is an error, and the checks on that translation
/// (<see cref="RouteClusterCheck"/>). The gateway serves <see cref="Xds"/>; <c>analyze</c> prints <see cref="Diagnostics"/>.
/// </summary>
/// <param name="Config">The resources as loaded.</param>
/// <param name="Diagnostics">Every finding, loader's first, then the analyzer's, then the translation's.</param>
/// <param name="Xds">The translation, or null when a finding is an error (nothing is translated then).</param>
public sealed record ConfigAnalysis(IstioConfigSet Config, IReadOnlyList<ConfigDiagnostic> Diagnostics, MeshXds? Xds)
{
    /// <summary>Whether any finding is an error (the gateway refuses such a revision).</summary>
    public bool HasErrors => Diagnostics.Any(d => d.Severity == DiagnosticSeverity.Error);

    /// <summary>Analyses <paramref name="config"/> and, when it has no error, translates it once.</summary>
    /// <param name="config">Loaded resources (possibly with loader errors: the analyzer still reports on the rest).</param>
    /// <param name="environment">The mesh around the two proxies; defaults to <see cref="MeshEnvironment"/>'s.</param>
    public static ConfigAnalysis Run(IstioConfigSet config, MeshEnvironment? environment = null)
    {
        environment ??= new MeshEnvironment();
        // A large configuration the loader took without error is translated while it is analysed, on another core;
        // the translation is used only if the analyzer finds no error either (as if it had started after).
        var mesh = environment;
        var translation = config.HasErrors || !config.IsLarge
            ? null
            : Task.Run(() => IstioTranslator.Translate(config, mesh));
        List<ConfigDiagnostic> diagnostics;
        try
        {
            diagnostics = [.. config.Diagnostics, .. IstioAnalyzer.Analyze(config, environment)];
        }
        catch
        {
            Abandon(translation);
            throw;
        }
        if (diagnostics.Any(d => d.Severity == DiagnosticSeverity.Error))
        {
            // Not cancelled: it runs to its end on its pool thread, then is dropped.
            Abandon(translation);
            return new(config, diagnostics, null);
        }
        var xds = translation is null ? IstioTranslator.Translate(config, environment) : translation.GetAwaiter().GetResult();
        diagnostics.AddRange(RouteClusterCheck.Check(config, xds));
        return new(config, diagnostics, xds);
    }

    // A translation whose result is not wanted: its failure, if any, is observed and dropped.
    private static void Abandon(Task<MeshXds>? translation) =>
        translation?.ContinueWith(t => t.Exception, CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted, TaskScheduler.Default);
}
