using System.Diagnostics;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;

namespace Demo.CfRouter;

/// <summary>
/// The router's status port: the route table and route registration. On a platform the route emitter (Diego) and
/// route registrars publish <c>router.register</c> / <c>router.unregister</c> on NATS; here the same message is
/// POSTed as JSON. Only on <see cref="CfRouterOptions.StatusPort"/>, never on the apps' HTTPS port.
/// </summary>
public static class RouteRegistrationApi
{
    public static IEndpointRouteBuilder MapRouteRegistrationApi(this IEndpointRouteBuilder app)
    {
        var statusPort = app.ServiceProvider.GetRequiredService<IOptions<CfRouterOptions>>().Value.StatusPort;
        var group = app.MapGroup("/routes").RequireHost($"*:{statusPort}")
            .AddEndpointFilter((context, next) =>
            {
                // Registrations arrive every second from every instance: platform plumbing, kept out of the traces.
                if (Activity.Current is { } activity)
                {
                    activity.IsAllDataRequested = false;
                    activity.ActivityTraceFlags &= ~ActivityTraceFlags.Recorded;
                }
                return next(context);
            });
        group.MapGet("/", GetRoutes);
        group.MapPost("/register", Register);
        group.MapPost("/unregister", Unregister);
        return app;
    }

    /// <summary>Route → instances, like gorouter's <c>GET /routes</c> on its status port.</summary>
    public static Ok<Dictionary<string, RouteEntry[]>> GetRoutes(RouteRegistry registry) =>
        TypedResults.Ok(registry.Snapshot().ToDictionary(
            r => r.Key,
            r => r.Value.Select(e => new RouteEntry(e.Address, e.App, e.InstanceIndex, e.InstanceId)).ToArray()));

    public static Results<NoContent, BadRequest<string>> Register(RegistryMessage message, RouteRegistry registry)
    {
        if (Describe(message) is { } problems)
        {
            return TypedResults.BadRequest(problems);
        }
        registry.Register(message);
        return TypedResults.NoContent();
    }

    public static Results<NoContent, BadRequest<string>> Unregister(RegistryMessage message, RouteRegistry registry)
    {
        if (Describe(message) is { } problems)
        {
            return TypedResults.BadRequest(problems);
        }
        registry.Unregister(message);
        return TypedResults.NoContent();
    }

    private static string? Describe(RegistryMessage message) =>
        message.Problems().ToList() is { Count: > 0 } problems ? "Registration refused: " + string.Join("; ", problems) : null;

    /// <summary>One instance of a route in <c>GET /routes</c>.</summary>
    public sealed record RouteEntry(string Address, string App, string PrivateInstanceIndex, string PrivateInstanceId);
}
