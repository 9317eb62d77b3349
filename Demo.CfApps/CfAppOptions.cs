using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;

namespace Demo.CfApps;

/// <summary>
/// Validates <see cref="CfAppOptions"/> and its <see cref="CfAppOptions.RouteRegistrar"/> section by their data
/// annotations (the options source generator; <c>ValidateDataAnnotations</c> does not look into nested sections).
/// </summary>
[OptionsValidator]
public sealed partial class CfAppOptionsValidator : IValidateOptions<CfAppOptions>;

public sealed class CfAppOptions
{
    public const string SectionName = "CfApp";

    /// <summary>The version this instance answers as, e.g. <c>v1</c>.</summary>
    [Required, RegularExpression("^v[0-9]+$", ErrorMessage = "CfApp:Version must look like 'v1' or 'v2'.")]
    public string Version { get; set; } = "";

    /// <summary>
    /// Host names routed to this app, as the routes of <c>manifest.yml</c>: what the instance registers with the router
    /// (<see cref="RouteRegistrarOptions"/>). The app itself answers any Host, as a Cloud Foundry app does.
    /// </summary>
    [Required, MinLength(1, ErrorMessage = "CfApp:Routes needs at least one host name.")]
    public List<string> Routes { get; set; } = [];

    /// <summary>
    /// Local run only: a folder per app (the AppHost sets it) where each instance claims its <c>CF_INSTANCE_INDEX</c>
    /// (see <see cref="InstanceIndex"/>). Unset, and on a platform, the index is <c>CF_INSTANCE_INDEX</c>'s, if any.
    /// </summary>
    public string? InstanceIndexLeases { get; set; }

    /// <summary>Local run only: how this instance tells the local router about itself (see <see cref="RouteRegistrarOptions"/>).</summary>
    [ValidateObjectMembers]
    public RouteRegistrarOptions RouteRegistrar { get; set; } = new();
}

/// <summary>
/// Local run only (section <c>CfApp:RouteRegistrar</c>). On a platform the app never registers a route: Diego's route
/// emitter sees the instance running and publishes gorouter's <c>router.register</c> (and <c>router.unregister</c>
/// when it stops) on NATS. Locally the instance does the emitter's job for itself — with
/// <see cref="RouterUrl"/> unset (as on Cloud Foundry) nothing is registered.
/// </summary>
public sealed class RouteRegistrarOptions
{
    /// <summary>The local router's status endpoint, e.g. <c>http://localhost:5400</c>; registrations go to <c>/routes/register</c>.</summary>
    public Uri? RouterUrl { get; set; }

    /// <summary>The app name sent as <c>app</c>, e.g. <c>hello-istio-v1</c> (the name in manifest.yml).</summary>
    public string App { get; set; } = "";

    /// <summary>How often the registration is renewed (the route emitter re-emits every 20 s on a platform).</summary>
    [Range(typeof(TimeSpan), "00:00:00.100", "00:10:00")]
    public TimeSpan RegisterInterval { get; set; } = TimeSpan.FromSeconds(20);

    /// <summary>
    /// manifest.yml's <c>health-check-http-endpoint</c> (<c>/health</c> here, with <c>health-check-type: http</c>): the
    /// path of the start-up health check that must answer 200 before the route is registered. Empty stands for
    /// <c>health-check-type: port</c>: a TCP connection to <c>$PORT</c> is enough.
    /// </summary>
    public string HealthCheckHttpEndpoint { get; set; } = "/health";

    /// <summary>
    /// How long the start-up health check waits between tries (cloudfoundry/healthcheck's <c>-startup-interval</c>);
    /// each try has its <c>-timeout</c> of 1 s.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:00.010", "00:01:00")]
    public TimeSpan HealthCheckInterval { get; set; } = TimeSpan.FromMilliseconds(200);

    /// <summary>
    /// How long the start-up health check may take before the start fails (the process's health-check <c>timeout</c>;
    /// Cloud Controller's default 60 s). The instance then exits with code 1.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:00.100", "00:30:00")]
    public TimeSpan HealthCheckTimeout { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>Sent as <c>stale_threshold_in_seconds</c>: the router drops the registration when it is not renewed for this long.</summary>
    [Range(1, 3600)]
    public int StaleThresholdInSeconds { get; set; } = 120;
}
