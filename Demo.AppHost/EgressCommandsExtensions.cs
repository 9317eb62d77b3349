using System.Collections.Immutable;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;

namespace Aspire.Hosting;

/// <summary>
/// The dashboard as the mesh's control panel: commands on the local egress gateway that switch Istio scenarios at run
/// time through its admin API (no file edited, no restart), health that follows the configuration, the serving
/// revision and scenarios as resource properties, and Envoy-style admin links.
/// </summary>
internal static class EgressCommandsExtensions
{
    public const string ApplyScenarioCommand = "istio-apply-scenario";
    public const string ResetCommand = "istio-back-to-deploy";
    public const string AnalyzeCommand = "istio-analyze";
    public const string RevisionProperty = "istio.revision";
    public const string ScenariosProperty = "istio.scenarios";
    public const string ConfigHealthCheckSuffix = "-istio-config";

    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    // One client for the admin port, without IHttpClientFactory's per-request Information logs in the AppHost console
    // (the status is polled every second).
    private static readonly HttpClient Admin = new(new SocketsHttpHandler { PooledConnectionLifetime = TimeSpan.FromMinutes(1) })
    {
        Timeout = TimeSpan.FromSeconds(10),
    };

    /// <summary>Adds the commands, the configuration health check, the status properties and the admin links to <paramref name="egress"/>.</summary>
    /// <remarks>"Apply scenario…" offers one checkbox per file of the scenarios folder of <c>IstioConfigDirectory</c>
    /// (deploy/istio/scenarios by default), read at start.</remarks>
    public static IResourceBuilder<ProjectResource> WithIstioControlPanel(this IResourceBuilder<ProjectResource> egress)
    {
        var builder = egress.ApplicationBuilder;
        var scenariosDirectory = Path.Combine(EgressPattern.ConfigDirectory(builder), "scenarios");
        var admin = egress.GetEndpoint("admin");
        var healthCheck = egress.Resource.Name + ConfigHealthCheckSuffix;
        builder.Services.AddHealthChecks().Add(new HealthCheckRegistration(healthCheck,
            _ => new IstioConfigHealthCheck(admin), failureStatus: HealthStatus.Unhealthy, tags: null));
        builder.Services.AddHostedService(services => new IstioStatusPublisher(egress.Resource, admin, healthCheck,
            services.GetRequiredService<ResourceNotificationService>()));

        var scenarios = ReadScenarios(scenariosDirectory);
        return egress
            .WithHealthCheck(healthCheck)
            .WithCommand(ApplyScenarioCommand, "Apply scenario…", context => ApplyAsync(context, admin),
                new CommandOptions
                {
                    Description = "Apply one or more files of deploy/istio/scenarios on top of deploy/istio, at run time (like kubectl apply -f).",
                    IconName = "Flow",
                    IsHighlighted = true,
                    UpdateState = IsRunning,
                    Arguments = [.. scenarios.Select(s => new InteractionInput
                    {
                        Name = s.Name,
                        Label = s.Name,
                        Description = s.Purpose,
                        InputType = InputType.Boolean,
                    })],
                })
            .WithCommand(ResetCommand, "Back to deploy/istio", context => PostAsync(context, admin, "scenarios/reset", null),
                new CommandOptions
                {
                    Description = "Drop every applied scenario: deploy/istio alone.",
                    IconName = "ArrowUndo",
                    UpdateState = IsRunning,
                })
            .WithCommand(AnalyzeCommand, "Analyze configuration", context => AnalyzeAsync(context, admin),
                new CommandOptions
                {
                    Description = "The analyzer's findings for deploy/istio with the applied scenarios (like istioctl analyze).",
                    IconName = "DocumentSearch",
                    UpdateState = IsRunning,
                })
            .WithUrls(context =>
            {
                var adminUrl = context.Urls.FirstOrDefault(u => u.Endpoint?.EndpointName == "admin");
                if (adminUrl is null)
                {
                    return;
                }
                adminUrl.DisplayText = "admin";
                var root = adminUrl.Url.TrimEnd('/');
                foreach (var (path, text) in AdminLinks)
                {
                    context.Urls.Add(new ResourceUrlAnnotation { Url = root + path, DisplayText = text, Endpoint = adminUrl.Endpoint });
                }
            });
    }

    /// <summary>Envoy's admin pages the gateway serves, with the names the dashboard shows.</summary>
    public static readonly (string Path, string DisplayText)[] AdminLinks =
    [
        ("/config_dump", "Envoy config_dump"),
        ("/clusters", "Envoy clusters"),
        ("/stats/prometheus", "Istio metrics (Prometheus)"),
    ];

    private static ResourceCommandState IsRunning(UpdateCommandStateContext context) =>
        context.ResourceSnapshot.State?.Text == KnownResourceStates.Running ? ResourceCommandState.Enabled : ResourceCommandState.Disabled;

    private static Task<ExecuteCommandResult> ApplyAsync(ExecuteCommandContext context, EndpointReference admin)
    {
        var picked = context.Arguments?.Where(a => a.InputType == InputType.Boolean && bool.TryParse(a.Value, out var on) && on)
            .Select(a => a.Name).ToList() ?? [];
        return picked.Count == 0
            ? Task.FromResult(CommandResults.Failure("Pick at least one scenario (\"Back to deploy/istio\" drops them all)."))
            : PostAsync(context, admin, "scenarios/apply", new { scenarios = picked });
    }

    private static async Task<ExecuteCommandResult> PostAsync(ExecuteCommandContext context, EndpointReference admin, string path, object? body)
    {
        using var response = await Admin.PostAsJsonAsync(new Uri(new Uri(admin.Url), path), body, context.CancellationToken);
        var result = await response.Content.ReadFromJsonAsync<ApplyResult>(Json, context.CancellationToken);
        if (result is null)
        {
            return CommandResults.Failure($"The gateway answered {(int)response.StatusCode} without a result.");
        }
        var scenarios = result.Status.Scenarios.Count == 0 ? "deploy/istio" : "deploy/istio + " + string.Join(", ", result.Status.Scenarios);
        return result.Applied
            ? CommandResults.Success($"Revision {result.Status.Revision} serves {scenarios}.")
            : CommandResults.Failure($"Rejected; revision {result.Status.Revision} keeps serving {scenarios}: "
                + string.Join(" ", result.Findings.Select(f => f.Text)));
    }

    private static async Task<ExecuteCommandResult> AnalyzeAsync(ExecuteCommandContext context, EndpointReference admin)
    {
        var analysis = await Admin.GetFromJsonAsync<Analysis>(new Uri(new Uri(admin.Url), "analyze"), Json, context.CancellationToken);
        var findings = analysis?.Findings ?? [];
        var what = analysis?.Scenarios is { Count: > 0 } s ? "deploy/istio + " + string.Join(", ", s) : "deploy/istio";
        var text = new StringBuilder();
        text.Append($"### istioctl-style analysis of {what}\n\n");
        if (findings.Count == 0)
        {
            text.Append("No errors or warnings.\n");
        }
        foreach (var finding in findings)
        {
            text.Append($"- **{finding.Severity}** `{finding.Text}`\n");
        }
        var summary = $"{findings.Count(f => f.Severity == "error")} error(s), {findings.Count(f => f.Severity == "warning")} warning(s) in {what}.";
        return CommandResults.Success(summary, text.ToString(), CommandResultFormat.Markdown, displayImmediately: true);
    }

    private static IReadOnlyList<(string Name, string Purpose)> ReadScenarios(string directory)
    {
        if (!Directory.Exists(directory))
        {
            return [];
        }
        return [.. Directory.EnumerateFiles(directory, "*.yaml").Order(StringComparer.Ordinal)
            .Select(file => (Path.GetFileNameWithoutExtension(file), Purpose(file)))];
    }

    // The file's first comment line, as the gateway's GET /scenarios gives it.
    private static string Purpose(string file)
    {
        var first = File.ReadLines(file).Select(l => l.Trim()).FirstOrDefault(l => l.Length > 0) ?? "";
        if (!first.StartsWith('#'))
        {
            return "";
        }
        var text = first.TrimStart('#').Trim();
        return text.StartsWith("Scenario:", StringComparison.OrdinalIgnoreCase) ? text["Scenario:".Length..].Trim() : text;
    }

    internal static async Task<ConfigStatus?> GetStatusAsync(EndpointReference admin, TimeSpan timeout, CancellationToken cancellationToken)
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        cts.CancelAfter(timeout);
        return await Admin.GetFromJsonAsync<ConfigStatus>(new Uri(new Uri(admin.Url), "status"), Json, cts.Token);
    }

    /// <param name="AppliedAt">When the serving revision was applied: a restarted gateway starts again at revision 1 with a new time.</param>
    internal sealed record ConfigStatus(int Revision, IReadOnlyList<string> Scenarios, Rejection? Rejection, DateTimeOffset AppliedAt = default);

    internal sealed record Rejection(IReadOnlyList<Finding> Errors);

    internal sealed record Finding(string Severity, string Text);

    private sealed record ApplyResult(bool Applied, ConfigStatus Status, IReadOnlyList<Finding> Findings);

    private sealed record Analysis(IReadOnlyList<string> Scenarios, IReadOnlyList<Finding> Findings);

    /// <summary>
    /// Degraded while the latest change to the Istio configuration is rejected (the description is the rejection's
    /// <c>file:line: error: …</c> lines), Healthy once a change applies — Istio keeps serving the last good
    /// configuration either way, so this is a warning, not an outage.
    /// </summary>
    private sealed class IstioConfigHealthCheck(EndpointReference admin) : IHealthCheck
    {
        public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
        {
            try
            {
                var (health, description) = HealthOf(await GetStatusAsync(admin, TimeSpan.FromSeconds(5), cancellationToken));
                return new HealthCheckResult(health, description);
            }
            catch (Exception ex) when (ex is HttpRequestException or JsonException or InvalidOperationException
                || (ex is OperationCanceledException && !cancellationToken.IsCancellationRequested))
            {
                return HealthCheckResult.Unhealthy("The egress gateway's admin endpoint does not answer: " + ex.Message);
            }
        }
    }

    /// <summary>Degraded with the rejection's <c>file:line: error: …</c> lines while the latest change is rejected; else Healthy.</summary>
    private static (HealthStatus Status, string Description) HealthOf(ConfigStatus? status) =>
        status?.Rejection is { Errors.Count: > 0 } rejection
            ? (HealthStatus.Degraded, $"Revision {status.Revision} keeps serving; the latest change was rejected: "
                + string.Join(" | ", rejection.Errors.Select(e => e.Text)))
            : (HealthStatus.Healthy, $"Istio configuration revision {status?.Revision} applied");

    /// <summary>
    /// Keeps the resource's <c>istio.revision</c> and <c>istio.scenarios</c> properties current (polls <c>/status</c>
    /// every second), and its configuration health report too: Aspire re-runs the checks of a healthy resource only
    /// every 30 s, so without this a rejected edit would take that long to show.
    /// </summary>
    private sealed class IstioStatusPublisher(IResource egress, EndpointReference admin, string healthCheck, ResourceNotificationService notifications)
        : BackgroundService
    {
        // The resource's instances as DCP names them (e.g. egress-x7k2): updates go to each, which is what the
        // dashboard and watchers see.
        private readonly System.Collections.Concurrent.ConcurrentDictionary<string, bool> _instances = new(StringComparer.Ordinal);

        protected override async Task ExecuteAsync(CancellationToken stoppingToken)
        {
            _ = Task.Run(async () =>
            {
                await foreach (var update in notifications.WatchAsync(stoppingToken))
                {
                    if (update.Resource == egress && update.ResourceId != egress.Name)
                    {
                        _instances.TryAdd(update.ResourceId, true);
                    }
                }
            }, stoppingToken);
            ConfigStatus? published = null;
            var publishedTo = 0;
            using var timer = new PeriodicTimer(TimeSpan.FromSeconds(1));
            while (await timer.WaitForNextTickAsync(stoppingToken))
            {
                if (!admin.IsAllocated)
                {
                    continue;
                }
                ConfigStatus? status;
                try
                {
                    status = await GetStatusAsync(admin, TimeSpan.FromSeconds(2), stoppingToken);
                }
                catch (Exception ex) when (ex is HttpRequestException or JsonException or InvalidOperationException
                || (ex is OperationCanceledException && !stoppingToken.IsCancellationRequested))
                {
                    continue;
                }
                if (status is null || (published is not null && publishedTo == _instances.Count && published.Revision == status.Revision && published.AppliedAt == status.AppliedAt
                    && published.Scenarios.SequenceEqual(status.Scenarios) && HealthOf(published) == HealthOf(status)))
                {
                    continue;
                }
                var scenarios = status.Scenarios.Count == 0 ? "(none: deploy/istio)" : string.Join(", ", status.Scenarios);
                var (health, description) = HealthOf(status);
                try
                {
                    var instances = _instances.Keys.ToList();
                    foreach (var instance in instances.Count == 0 ? [egress.Name] : instances)
                    {
                        await PublishAsync(instance, status, scenarios, health, description);
                    }
                    published = status;
                    publishedTo = instances.Count;
                }
                catch (Exception ex) when (ex is not OperationCanceledException || !stoppingToken.IsCancellationRequested)
                {
                    // Keep polling: the next tick publishes again (a restarting resource may refuse an update).
                }
            }

            Task PublishAsync(string instance, ConfigStatus status, string scenarios, HealthStatus health, string description) =>
                notifications.PublishUpdateAsync(egress, instance, snapshot =>
                {
                    var updated = snapshot with
                    {
                        Properties = SetProperty(SetProperty(snapshot.Properties, RevisionProperty, "Istio config revision", status.Revision.ToString(System.Globalization.CultureInfo.InvariantCulture)),
                            ScenariosProperty, "Istio scenarios", scenarios),
                    };
                    // Only once Aspire's own health monitoring has reported this check (it also decides readiness).
                    return updated.HealthReports.Any(r => r.Name == healthCheck)
                        ? updated.WithHealthReports([.. updated.HealthReports.Select(r => r.Name == healthCheck
                            ? new HealthReportSnapshot(healthCheck, health, description, null) { LastRunAt = DateTime.UtcNow }
                            : r)])
                        : updated;
                });
        }

        private static ImmutableArray<ResourcePropertySnapshot> SetProperty(ImmutableArray<ResourcePropertySnapshot> properties,
            string name, string displayName, string value) =>
            [.. properties.Where(p => p.Name != name), new ResourcePropertySnapshot(name, value) { DisplayName = displayName, IsHighlighted = true }];
    }
}
