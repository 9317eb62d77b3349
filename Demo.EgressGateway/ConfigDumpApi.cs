using System.Text.Json;
using Demo.EgressGateway.Envoy;
using Demo.EgressGateway.Mesh;

namespace Demo.EgressGateway;

/// <summary>
/// Envoy's admin <c>GET /config_dump</c> on the admin port: the configuration the local gateway executes, as
/// istiod would push it (see <see cref="ConfigDump"/>). <c>?proxy=gateway</c> (default) or <c>?proxy=sidecar</c>
/// picks the proxy; <c>?resource=dynamic_listeners|dynamic_route_configs|dynamic_active_clusters|dynamic_active_secrets|
/// dynamic_endpoint_configs</c> returns one list, like <c>istioctl proxy-config listeners|routes|clusters|secret|endpoints
/// &lt;pod&gt; -o json</c>; <c>?include_eds</c> adds the EDS endpoints to the whole dump, as Envoy's does. 400 names a
/// bad parameter.
/// </summary>
public static class ConfigDumpApi
{
    public const string Path = "/config_dump";

    public static IEndpointRouteBuilder MapConfigDump(this IEndpointRouteBuilder endpoints)
    {
        endpoints.MapGet(Path, (HttpContext context, MeshSnapshotProvider configs, string? proxy, string? resource) =>
        {
            var config = configs.Current;
            ProxyConfig? selected = proxy switch
            {
                null or "" or "gateway" => config.Xds.Gateway,
                "sidecar" => config.Xds.Sidecar,
                _ => null,
            };
            if (selected is null)
            {
                return Results.Problem($"proxy '{proxy}' is not one of: gateway, sidecar", statusCode: StatusCodes.Status400BadRequest);
            }
            if (resource is { Length: > 0 } && !ConfigDump.Resources.Contains(resource))
            {
                return Results.Problem($"resource '{resource}' is not one of: {string.Join(", ", ConfigDump.Resources)}",
                    statusCode: StatusCodes.Status400BadRequest);
            }
            context.Response.Headers["x-istio-revision"] = config.Revision.ToString(System.Globalization.CultureInfo.InvariantCulture);
            // Envoy's admin takes ?include_eds with or without a value.
            var includeEds = context.Request.Query.ContainsKey("include_eds");
            return Results.Text(ConfigDump.ToJson(selected, resource, includeEds), "application/json");
        });
        return endpoints;
    }
}
