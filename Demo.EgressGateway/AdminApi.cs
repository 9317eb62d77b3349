using Demo.EgressGateway.Istio;
using Demo.EgressGateway.Mesh;
using Microsoft.Extensions.Options;

namespace Demo.EgressGateway;

/// <summary>
/// The gateway's admin endpoints, on the admin port only (as Envoy's admin listener): scenarios switched at run time,
/// the analyzer's findings, the configuration status, and Envoy's <c>/clusters</c> and <c>/stats/prometheus</c>.
/// Requests to the mesh port never reach these routes.
/// </summary>
public static class AdminApi
{
    public static IEndpointRouteBuilder MapAdminApi(this IEndpointRouteBuilder app)
    {
        app.MapGet("/scenarios", ListScenarios);
        app.MapPost("/scenarios/apply", ApplyScenarios);
        app.MapPost("/scenarios/reset", ResetScenarios);
        app.MapGet("/analyze", Analyze);
        app.MapGet("/status", Status);
        app.MapGet("/clusters", (MeshSnapshotProvider configs, ClusterStats clusters) =>
            Results.Text(clusters.Render(configs.Current), "text/plain; charset=utf-8"));
        // OpenTelemetry's Prometheus exporter: istio_requests_total and istio_request_duration_milliseconds with
        // Istio's labels (GatewayTelemetry), plus the process's own meters when it exports telemetry to the dashboard.
        app.MapPrometheusScrapingEndpoint("/stats/prometheus");
        return app;
    }

    /// <summary><c>GET /scenarios</c>: every file of <c>scenarios/</c> with its purpose and whether it is applied.</summary>
    private static IResult ListScenarios(MeshSnapshotProvider configs, IOptions<EgressGatewayOptions> options) =>
        Results.Ok(ScenarioCatalog.List(options.Value.ConfigDirectory)
            .Select(s => new ScenarioView(s.Name, s.Purpose, configs.ActiveScenarios.Contains(s.Name))));

    /// <summary>
    /// <c>POST /scenarios/apply</c> with <c>{"scenarios":["name",…]}</c>: deploy/istio with those scenarios on top.
    /// 200 with the new status, or 422 with the findings that kept the serving revision.
    /// </summary>
    private static IResult ApplyScenarios(ApplyRequest request, MeshSnapshotProvider configs, ProxyListeners listeners) =>
        Apply(configs, listeners, request.Scenarios ?? []);

    /// <summary><c>POST /scenarios/reset</c>: back to deploy/istio alone.</summary>
    private static IResult ResetScenarios(MeshSnapshotProvider configs, ProxyListeners listeners) => Apply(configs, listeners, []);

    private static IResult Apply(MeshSnapshotProvider configs, ProxyListeners listeners, IReadOnlyList<string> scenarios)
    {
        var applied = configs.ApplyScenarios(scenarios, out var diagnostics);
        var result = new ApplyResult(applied, StatusOf(configs, listeners),
            [.. diagnostics.Where(d => !applied || d.Severity == DiagnosticSeverity.Error).Select(Finding.From)]);
        return applied ? Results.Ok(result) : Results.UnprocessableEntity(result);
    }

    /// <summary>
    /// <c>GET /analyze</c>: the loader's and analyzer's findings (like <c>istioctl analyze</c>) for the folder with the
    /// active scenarios, or with <c>?scenario=a&amp;scenario=b</c> when given.
    /// </summary>
    private static IResult Analyze(string[]? scenario, MeshSnapshotProvider configs, IOptions<EgressGatewayOptions> options)
    {
        var scenarios = scenario is { Length: > 0 } ? scenario : configs.ActiveScenarios;
        var findings = IstioAnalyzeCommand.Analyze(options.Value.ConfigDirectory, scenarios, options.Value.ToMeshEnvironment());
        return Results.Ok(new AnalysisView(scenarios, [.. findings.Select(Finding.From)]));
    }

    /// <summary>
    /// <c>GET /status</c>: the serving revision, its scenarios, the latest change's rejection if it was rejected, and
    /// each proxy's listeners with the loopback address and port they really listen on.
    /// </summary>
    private static IResult Status(MeshSnapshotProvider configs, ProxyListeners listeners) => Results.Ok(StatusOf(configs, listeners));

    private static ConfigStatus StatusOf(MeshSnapshotProvider configs, ProxyListeners listeners)
    {
        var rejection = configs.LastRejection.Where(d => d.Severity == DiagnosticSeverity.Error).Select(Finding.From).ToList();
        return new ConfigStatus(configs.Current.Revision, configs.ActiveScenarios, configs.AppliedAt,
            rejection.Count == 0 ? null : new Rejection(configs.LastRejectedAt, rejection), listeners.Describe(configs.Current));
    }

    public sealed record ApplyRequest(IReadOnlyList<string>? Scenarios);

    /// <param name="Active">Whether the serving revision includes it.</param>
    public sealed record ScenarioView(string Name, string Purpose, bool Active);

    /// <param name="Findings">Errors that rejected the change, or (when applied) its warnings.</param>
    public sealed record ApplyResult(bool Applied, ConfigStatus Status, IReadOnlyList<Finding> Findings);

    public sealed record AnalysisView(IReadOnlyList<string> Scenarios, IReadOnlyList<Finding> Findings);

    /// <param name="Revision">The serving revision: 1 at start, +1 per applied change.</param>
    /// <param name="Rejection">Set while the latest change (file edit or scenario apply) is rejected.</param>
    /// <param name="Proxies">The sidecar's and the egress gateway's listeners.</param>
    public sealed record ConfigStatus(int Revision, IReadOnlyList<string> Scenarios, DateTimeOffset AppliedAt, Rejection? Rejection,
        IReadOnlyList<ProxyListeners.ProxyView> Proxies);

    public sealed record Rejection(DateTimeOffset? At, IReadOnlyList<Finding> Errors);

    /// <summary>One finding: <c>Text</c> is the analyzer's <c>file:line: severity: Resource: field: message</c> line.</summary>
    public sealed record Finding(string Severity, string File, int? Line, string? Resource, string? Field, string Message, string Text)
    {
        public static Finding From(ConfigDiagnostic d) => new(d.Severity == DiagnosticSeverity.Error ? "error" : "warning",
            d.File, d.Line, d.Resource, d.Field, d.Message, d.ToString());
    }
}
