using Demo.EgressGateway.Mesh;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.Options;

namespace Demo.EgressGateway;

/// <summary>
/// Where each proxy's listeners really listen, for <c>GET /status</c>: Envoy's listener names (<c>0.0.0.0_80</c>) from
/// the serving revision, with the loopback address and port that receive their connections — for the sidecar the mesh
/// port (the app's HTTP proxy, standing for Istio's outbound capture), for the gateway its own sockets
/// (<see cref="GatewayListenerManager"/>).
/// </summary>
public sealed class ProxyListeners(IServer server, GatewayListenerManager gateway, IOptions<EgressGatewayOptions> options)
{
    /// <summary>One proxy: <c>sidecar</c> or <c>gateway</c>, and its listeners.</summary>
    public sealed record ProxyView(string Name, IReadOnlyList<ListenerView> Listeners);

    /// <param name="Name">Envoy's listener name, e.g. <c>0.0.0.0_443</c>.</param>
    /// <param name="Address">The local address that receives its connections (127.0.0.1).</param>
    /// <param name="Port">The local port that receives them; 0 while the process is not listening yet.</param>
    /// <param name="Protocol"><c>TLS</c> when a filter chain terminates TLS, else <c>HTTP</c>.</param>
    public sealed record ListenerView(string Name, string Address, int Port, string Protocol);

    /// <summary>The sidecar's and the gateway's listeners for <paramref name="config"/>.</summary>
    public IReadOnlyList<ProxyView> Describe(MeshSnapshot config)
    {
        var meshPort = MeshPort();
        var sidecar = config.Xds.Sidecar.Listeners
            .Select(l => new ListenerView(l.Name, "127.0.0.1", meshPort, "HTTP"))
            .ToList();
        var bound = gateway.Endpoints;
        var gatewayListeners = config.Xds.Gateway.Listeners
            .Where(l => bound.ContainsKey(l.Port))
            .Select(l => new ListenerView(l.Name, bound[l.Port].Address.ToString(), bound[l.Port].Port,
                l.FilterChains.Any(c => c.TransportSocket is not null) ? "TLS" : "HTTP"))
            .ToList();
        return [new ProxyView(ActiveStream.Sidecar, sidecar), new ProxyView(ActiveStream.Gateway, gatewayListeners)];
    }

    private int MeshPort()
    {
        if (options.Value.MeshPort is { } configured)
        {
            return configured;
        }
        var admin = options.Value.AdminPort;
        foreach (var address in server.Features.Get<IServerAddressesFeature>()?.Addresses ?? [])
        {
            if (BindingAddress.Parse(address) is { Port: var port } && port != admin && port != 0)
            {
                return port;
            }
        }
        return 0;
    }
}
