using System.Net;
using Demo.EgressGateway.Istio;
using Yarp.ReverseProxy.Forwarder;

namespace Demo.EgressGateway.Mesh;

/// <summary>
/// Applies the mesh to one downstream request in one proxy, the way Istio's proxies would: the caller's sidecar
/// (<see cref="HandleAsync"/>: its outbound listener for the port, route — weights, Host per destination, timeout,
/// retries —, and the upstream request, to the egress gateway over a real mTLS connection or to the external host) or
/// the egress gateway (<see cref="HandleGatewayAsync"/>: the filter chain its connection matched, fault, route, TLS
/// origination). Upstream requests go through YARP's forwarder.
/// </summary>
public sealed partial class MeshRequestHandler(
    MeshSnapshotProvider configs,
    UpstreamClientFactory clients,
    IHttpForwarder forwarder,
    GatewayTelemetry telemetry,
    ILogger<MeshRequestHandler> logger)
{
    public const string TimeoutBody = "upstream request timeout";
    public const string NoHealthyUpstreamBody = "no healthy upstream";
    private const string ResetBefore = "upstream connect error or disconnect/reset before headers. ";
    private const string SecretNotSuppliedReason = "TLS error: Secret is not supplied by SDS";

    private static readonly string[] AttemptCounts = [.. Enumerable.Range(0, 16).Select(i => i.ToString(System.Globalization.CultureInfo.InvariantCulture))];

    private static readonly ForwarderRequestConfig RequestConfig = new()
    {
        // Envoy speaks HTTP/1.1 to upstreams unless told otherwise; YARP would negotiate HTTP/2 through ALPN.
        Version = HttpVersion.Version11,
        VersionPolicy = HttpVersionPolicy.RequestVersionExact,
        ActivityTimeout = TimeSpan.FromMinutes(5),
    };

    // An HTTP/2 cluster (Istio: port protocol HTTP2/GRPC): h2 through ALPN over TLS, prior knowledge in clear text.
    private static readonly ForwarderRequestConfig Http2RequestConfig = RequestConfig with { Version = HttpVersion.Version20 };

    /// <summary>A request the app sent to its sidecar (the mesh port, where Istio's iptables would redirect it).</summary>
    public async Task HandleAsync(HttpContext context)
    {
        var request = new ActiveStream(context, configs.Current, ActiveStream.Sidecar, MeshEnvironment.MeshGateway);
        var host = context.Request.Host;
        // What the sidecar's connection manager adds (use_remote_address false): a request id when there is none,
        // and the scheme the app spoke.
        var headers = context.Request.Headers;
        if (!headers.ContainsKey("x-request-id"))
        {
            headers["x-request-id"] = Guid.NewGuid().ToString();
        }
        headers["x-forwarded-proto"] = context.Request.Scheme;
        // The outbound connection manager's forward_client_cert_details is Envoy's default, SANITIZE (and the app's
        // connection has no client certificate): an x-forwarded-client-cert the app sends goes no further.
        ConnectionManagerUtility.MutateXfccRequestHeader(headers, null, null, null);
        // :authority keeps its port (header matches, the upstream Host); only virtual-host selection ignores it.
        request.Authority = host.Value ?? "";
        var port = host.Port ?? (context.Request.IsHttps ? 443 : 80);
        await RunAsync(request, port);
    }

    /// <summary>
    /// A request on one of the egress gateway's listeners (<see cref="GatewayListenerManager"/>), after
    /// <see cref="GatewayConnectionHandler"/> chose its connection's filter chain.
    /// </summary>
    public async Task HandleGatewayAsync(HttpContext context)
    {
        var connection = context.Features.Get<DownstreamConnection>()
            ?? throw new InvalidOperationException("a gateway request without its listener's connection information");
        var config = configs.Current;
        var request = new ActiveStream(context, config, ActiveStream.Gateway, "");
        request.Authority = context.Request.Host.Value ?? "";
        request.ListenerPort = connection.Port;
        if (config.Gateway.FindListener(connection.Port)?.Match(connection.ServerName, connection.TransportProtocol) is not { Routes: not null } chain)
        {
            // The configuration changed under an open connection and no chain takes it now: Envoy drains it.
            Log.FilterChainNotFound(logger, "gateway", connection.ServerName ?? "-", connection.Port);
            context.Abort();
            return;
        }
        request.Routes = chain.Routes;
        request.Frame.Listener = chain.Chain.Name;
        request.SpawnsUpstreamSpan = chain.Chain.HttpConnectionManager?.Tracing?.SpawnUpstreamSpan == true;
        ConnectionManagerUtility.MutateGatewayRequestHeaders(context, config.Gateway);
        ConnectionManagerUtility.MutateXfccRequestHeader(context.Request.Headers, chain.Chain.HttpConnectionManager,
            context.Connection.ClientCertificate, connection.LocalCertificate);
        await RunAsync(request, connection.Port);
    }

    private async Task RunAsync(ActiveStream request, int port)
    {
        var context = request.Context;
        try
        {
            var outcome = await RunStageAsync(request, port, context.RequestAborted);
            if (!outcome.Committed)
            {
                await WriteAsync(context, outcome.Status, outcome.Detail ?? "");
            }
        }
        catch (OperationCanceledException) when (context.RequestAborted.IsCancellationRequested)
        {
            // The client went away; Envoy logs DC and moves on.
        }
    }

    private async ValueTask<AttemptOutcome> RunStageAsync(ActiveStream request, int port, CancellationToken cancellationToken)
    {
        var frame = request.Frame;
        frame.StartTimestamp = TimeProvider.System.GetTimestamp();
        frame.Downstream = cancellationToken;
        frame.Path = request.Context.Request.Path.Value ?? "/";
        frame.Activity = telemetry.StartStage(frame.Stage, request);
        var outcome = default(AttemptOutcome);
        try
        {
            outcome = await RouteAsync(request, frame, port, cancellationToken);
            return outcome with { LocalReply = false };
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            frame.Flags |= ResponseFlags.DownstreamConnectionTermination;
            throw;
        }
        finally
        {
            frame.Status = outcome.Status;
            telemetry.StageCompleted(frame, request, logger);
        }
    }

    /// <summary>
    /// A reply this proxy makes itself (Envoy's local reply): written to its downstream at once with the picked
    /// destination's response headers; for the sidecar, a gateway's local reply is an upstream response like any other.
    /// </summary>
    private static ValueTask<AttemptOutcome> LocalReplyAsync(ActiveStream request, int status, string body, ResponseFlags flags) =>
        LocalReplyAsync(request, status, System.Text.Encoding.UTF8.GetBytes(body), flags, body);

    private static async ValueTask<AttemptOutcome> LocalReplyAsync(ActiveStream request, int status, byte[] body, ResponseFlags flags, string? text = null)
    {
        request.Frame.Flags |= flags;
        MeshTransformer.ApplyResponseHeaders(request, request.Context.Response.Headers);
        await WriteAsync(request.Context, status, body);
        return new AttemptOutcome(OutcomeKind.Response, status, Committed: true, flags, text ?? "") { LocalReply = true };
    }

    private static Task WriteAsync(HttpContext context, int status, string body) =>
        WriteAsync(context, status, System.Text.Encoding.UTF8.GetBytes(body));

    // Envoy's sendLocalReply: the status, text/plain when there is a body, the body's bytes as they are.
    private static async Task WriteAsync(HttpContext context, int status, byte[] body)
    {
        var response = context.Response;
        if (response.HasStarted)
        {
            return;
        }
        response.StatusCode = status;
        response.ContentLength = body.Length;
        if (body.Length > 0)
        {
            response.ContentType = "text/plain";
            await response.Body.WriteAsync(body);
        }
    }

    private static bool HasControlCharacter(string? target) =>
        target is not null && target.AsSpan().IndexOfAnyInRange('\u0000', '\u0020') >= 0 || target?.Contains('\u007f', StringComparison.Ordinal) == true;

    private static string Describe(Exception? exception)
    {
        var messages = new List<string>();
        for (var current = exception; current is not null && messages.Count < 4; current = current.InnerException)
        {
            messages.Add(current.Message);
        }
        return messages.Count == 0 ? "unknown" : string.Join(" -> ", messages.Distinct());
    }
}
