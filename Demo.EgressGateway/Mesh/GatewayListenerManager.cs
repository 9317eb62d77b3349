using System.Net;
using Demo.EgressGateway.Istio;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Options;

namespace Demo.EgressGateway.Mesh;

/// <summary>
/// The egress gateway proxy's own listeners, as the <c>istio-egressgateway</c> pod has them: one loopback socket per
/// port of Istio's default egress gateway Service (<see cref="ServicePorts"/>: <c>http2</c> 80, <c>https</c> 443), in a
/// Kestrel server of its own beside the sidecar's. Each connection goes through <see cref="GatewayConnectionHandler"/>
/// (tls_inspector, filter-chain match, the server's TLS, then the HTTP/1.1 or HTTP/2 codec — the latter from a second,
/// HTTP/2-only endpoint per port that nobody dials) and each request then to
/// <see cref="MeshRequestHandler.HandleGatewayAsync"/>. The sidecar's clusters for the gateway Service connect here
/// (<see cref="TryResolve"/>): the hop between the two proxies is a real connection.
/// </summary>
/// <remarks>Follows Envoy's ListenerManagerImpl (one listener per address) and the ports of the istio/istio helm
/// chart <c>manifests/charts/gateways/istio-egress/values.yaml</c>.</remarks>
public sealed class GatewayListenerManager(
    IServiceProvider services,
    IOptions<EgressGatewayOptions> options,
    ILoggerFactory loggerFactory) : IHostedLifecycleService, IAsyncDisposable
{
    /// <summary>The Service ports of Istio's default egress gateway: port number and name (the name decides the protocol).</summary>
    public static readonly IReadOnlyList<(int Port, string Name)> ServicePorts = [(80, "http2"), (443, "https")];

    private readonly TaskCompletionSource _started = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly Dictionary<int, ListenOptions> _bound = [];
    private WebApplication? _server;

    /// <summary>The gateway Service's host name (<c>istio-egressgateway.istio-system.svc.cluster.local</c>).</summary>
    public string ServiceHost => options.Value.EgressGatewayService;

    /// <summary>
    /// The loopback endpoint that stands for <paramref name="host"/>:<paramref name="port"/> when the host is the egress
    /// gateway's Service and the port one of its <see cref="ServicePorts"/>; waits for the listeners to be bound.
    /// </summary>
    /// <returns>Null when the host is not the gateway's Service; port 0 when nothing listens for that port (the
    /// Service lacks it, or no Gateway server uses it): the caller's connection is then refused.</returns>
    public async ValueTask<IPEndPoint?> TryResolve(string host, int port, CancellationToken cancellationToken)
    {
        if (!HostMatches(host))
        {
            return null;
        }
        await _started.Task.WaitAsync(cancellationToken);
        // A port the Service lacks, or one no Gateway server listens on: the pod has no socket there (connection refused).
        return _bound.TryGetValue(port, out var listen) && services.GetRequiredService<MeshSnapshotProvider>().Current.Gateway.FindListener(port) is not null
            ? listen.IPEndPoint
            : new IPEndPoint(IPAddress.Loopback, 0);
    }

    /// <summary>The bound listeners: Service port → the local endpoint; empty until started.</summary>
    public IReadOnlyDictionary<int, IPEndPoint> Endpoints => _started.Task.IsCompletedSuccessfully
        ? _bound.ToDictionary(b => b.Key, b => b.Value.IPEndPoint!)
        : new Dictionary<int, IPEndPoint>();

    /// <summary>The Service port a connection arrived on, from its local port; null for another server's port.</summary>
    public int? ServicePortOf(int localPort) =>
        _bound.FirstOrDefault(b => b.Value.IPEndPoint?.Port == localPort) is { Value: not null } found ? found.Key : null;

    // The Service's name, or its absolute form with the trailing dot.
    private bool HostMatches(string host) => HostName.Matches(ServiceHost, host.TrimEnd('.'));

    /// <summary>Binds the listeners before any other hosted service (the sidecar's listener among them) starts.</summary>
    public async Task StartingAsync(CancellationToken cancellationToken)
    {
        var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions());
        builder.Services.AddSingleton(loggerFactory);
        builder.Services.AddSingleton(typeof(ILogger<>), typeof(Logger<>));
        // The process's own host owns Ctrl+C and the start-up messages.
        builder.Services.AddSingleton<IHostLifetime, NoLifetime>();
        builder.WebHost.UseKestrelCore();
        var handler = services.GetRequiredService<GatewayConnectionHandler>();
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.AddServerHeader = false;
            // A sidecar's HTTP/2 keeps the app's :scheme (http) over the mesh's mTLS.
            kestrel.AllowAlternateSchemes = true;
            foreach (var (port, _) in ServicePorts)
            {
                // Envoy's connection manager picks its codec per connection (codec_type AUTO: ALPN h2, or the HTTP/2
                // preface in clear text). Kestrel fixes the protocols per endpoint, and keeps HTTP/2 off on one whose
                // TLS it does not terminate itself (the filter chain's TLS is GatewayConnectionHandler's). So each port
                // has a second, HTTP/2-only endpoint that no client connects to: its HTTP connection handler is taken
                // here and given the connections the listener's handler finds speaking HTTP/2.
                ConnectionDelegate? http2 = null;
                kestrel.Listen(IPAddress.Loopback, 0, listen =>
                {
                    listen.Protocols = HttpProtocols.Http2;
                    listen.Use(next =>
                    {
                        http2 = next;
                        return connection =>
                        {
                            connection.Abort();
                            return Task.CompletedTask;
                        };
                    });
                });
                kestrel.Listen(IPAddress.Loopback, 0, listen =>
                {
                    _bound[port] = listen;
                    listen.Protocols = HttpProtocols.Http1;
                    listen.Use(next => connection => handler.OnConnectionAsync(connection, port, next,
                        http2 ?? throw new InvalidOperationException("The HTTP/2 endpoint of the gateway's listener was not built.")));
                });
            }
        });
        var server = builder.Build();
        var requests = services.GetRequiredService<MeshRequestHandler>();
        server.Run(context => requests.HandleGatewayAsync(context));
        await server.StartAsync(cancellationToken);
        _server = server;
        _started.TrySetResult();
    }

    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    public Task StartedAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    public Task StoppingAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public async Task StoppedAsync(CancellationToken cancellationToken)
    {
        if (_server is { } server)
        {
            await server.StopAsync(cancellationToken);
        }
    }

    public async ValueTask DisposeAsync()
    {
        _started.TrySetCanceled();
        if (_server is { } server)
        {
            _server = null;
            await server.DisposeAsync();
        }
    }

    private sealed class NoLifetime : IHostLifetime
    {
        public Task WaitForStartAsync(CancellationToken cancellationToken) => Task.CompletedTask;
        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    }

    /// <summary>The Istio service account of the gateway's pods (the helm chart's <c>istio-egressgateway-service-account</c>).</summary>
    public const string ServiceAccount = "istio-egressgateway-service-account";

    /// <summary>The gateway's namespace, from its Service host.</summary>
    public string Namespace => new MeshEnvironment(ServiceHost).GatewayNamespace;
}
