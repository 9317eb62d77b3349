using Microsoft.AspNetCore.Http.Features;
using System.Net;
using Demo.EgressGateway.Istio;
using Polly.Timeout;
using Yarp.ReverseProxy.Forwarder;

namespace Demo.EgressGateway.Mesh;

/// <summary>
/// Applies the mesh to one request the way Istio's proxies would: the sidecar's route (weights, Host per
/// destination, timeout, retries), then — for destinations that are the egress gateway — the gateway's route
/// (fault, TLS origination) and the upstream call through YARP's forwarder.
/// </summary>
public sealed class MeshRequestHandler(
    MeshConfigProvider configs,
    UpstreamClientFactory clients,
    IHttpForwarder forwarder,
    GatewayTelemetry telemetry,
    ILogger<MeshRequestHandler> logger)
{
    public const string FaultAbortBody = "fault filter abort";
    public const string TimeoutBody = "upstream request timeout";
    public const string NoHealthyUpstreamBody = "no healthy upstream";
    private const string ResetBefore = "upstream connect error or disconnect/reset before headers. ";

    private static readonly ForwarderRequestConfig RequestConfig = new()
    {
        // Envoy speaks HTTP/1.1 to upstreams unless told otherwise; YARP would negotiate HTTP/2 through ALPN.
        Version = HttpVersion.Version11,
        VersionPolicy = HttpVersionPolicy.RequestVersionExact,
        ActivityTimeout = TimeSpan.FromMinutes(5),
    };

    public async Task HandleAsync(HttpContext context)
    {
        var request = new MeshRequest(context, configs.Current);
        var host = context.Request.Host;
        request.Authority = host.Host;
        var port = host.Port ?? (context.Request.IsHttps ? 443 : 80);
        try
        {
            var outcome = await RunStageAsync(request, MeshRequest.SidecarDepth, port, context.RequestAborted);
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

    private async ValueTask<AttemptOutcome> RunStageAsync(MeshRequest request, int depth, int port, CancellationToken cancellationToken)
    {
        var frame = request.Frames[depth];
        frame.Reset(depth == MeshRequest.SidecarDepth ? MeshEnvironment.MeshGateway : "");
        frame.StartTimestamp = TimeProvider.System.GetTimestamp();
        frame.Activity = telemetry.StartStage(frame.Stage, request);
        var outcome = default(AttemptOutcome);
        try
        {
            outcome = await RouteAsync(request, frame, depth, port, cancellationToken);
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

    private async ValueTask<AttemptOutcome> RouteAsync(MeshRequest request, StageFrame frame, int depth, int port, CancellationToken cancellationToken)
    {
        var config = request.Config;
        var host = request.Authority;
        RouteTable? table;
        if (depth == MeshRequest.SidecarDepth && HttpMethods.IsConnect(request.Context.Request.Method))
        {
            // Envoy's CONNECT support is off unless a route enables it (Istio's HTTP routes do not): an internal 403,
            // no tunnel, whatever the authority.
            return await LocalReplyAsync(request, depth, StatusCodes.Status403Forbidden, "", ResponseFlags.None);
        }
        if (depth == MeshRequest.SidecarDepth && HasControlCharacter(request.Context.Features.Get<IHttpRequestFeature>()?.RawTarget))
        {
            // Kestrel lets control characters through in the request target; Envoy's codec refuses them.
            return await LocalReplyAsync(request, depth, StatusCodes.Status400BadRequest, "", ResponseFlags.None);
        }
        if (depth == MeshRequest.SidecarDepth)
        {
            table = config.FindMeshRoutes(host);
            if (table is null || !config.IsRegistered(host, port) && !IstioAnalyzer.HostMatches(config.Environment.EgressGatewayService, host))
            {
                // REGISTRY_ONLY: the BlackHoleCluster.
                return await LocalReplyAsync(request, depth, StatusCodes.Status502BadGateway, "", ResponseFlags.NoRouteFound);
            }
        }
        else
        {
            frame.Listener = config.GatewayName;
            table = config.FindGatewayRoutes(host);
            if (table is null)
            {
                return await LocalReplyAsync(request, depth, StatusCodes.Status404NotFound, "", ResponseFlags.NoRouteFound);
            }
        }

        CompiledRoute? route = null;
        foreach (var candidate in table.Routes)
        {
            if (candidate.Matches(request.Context, host, port, frame.Listener))
            {
                route = candidate;
                break;
            }
        }
        if (route is null)
        {
            return await LocalReplyAsync(request, depth, StatusCodes.Status404NotFound, "", ResponseFlags.NoRouteFound);
        }
        frame.Route = route;

        // Envoy's fault filter runs before the router: its delay and abort are not subject to this route's
        // timeout, and its abort is never retried by this proxy.
        if (route.Route.Fault is { } fault)
        {
            if (fault.Delay is { } delay && Roll(delay.Percentage))
            {
                frame.Flags |= ResponseFlags.DelayInjected;
                await Task.Delay(delay.FixedDelay, cancellationToken);
            }
            if (fault.Abort is { } abort && Roll(abort.Percentage))
            {
                return await LocalReplyAsync(request, depth, abort.HttpStatus, FaultAbortBody, ResponseFlags.FaultInjected);
            }
        }

        var destination = route.PickDestination();
        frame.Destination = destination;
        ApplyRequestHeaders(request, destination);
        if (route.Route.RewriteUri is { } rewrite)
        {
            RewritePath(request.Context.Request, route.Route, rewrite);
        }
        frame.Authority = request.Authority;

        AttemptOutcome outcome;
        try
        {
            outcome = await route.Pipeline.ExecuteAsync(
                static (state, token) => state.Handler.AttemptAsync(state.Request, state.Depth, token),
                (Handler: this, Request: request, Depth: depth),
                cancellationToken);
        }
        catch (TimeoutRejectedException)
        {
            return await LocalReplyAsync(request, depth, StatusCodes.Status504GatewayTimeout, TimeoutBody, ResponseFlags.UpstreamRequestTimeout);
        }

        var exhausted = route.Retry.Attempts > 0 && frame.Attempts > route.Retry.Attempts;
        if (outcome.Kind != OutcomeKind.Response)
        {
            var flags = outcome.Flags | (exhausted ? ResponseFlags.UpstreamRetryLimitExceeded : ResponseFlags.None);
            return await LocalReplyAsync(request, depth, StatusCodes.Status503ServiceUnavailable, ResetBefore + outcome.Detail, flags);
        }
        // An inner stage's flags stay on its own access-log line: this proxy only saw the response.
        if (exhausted && route.Retry.RetriesStatus(outcome.Status))
        {
            frame.Flags |= ResponseFlags.UpstreamRetryLimitExceeded;
        }
        return outcome;
    }

    private async ValueTask<AttemptOutcome> AttemptAsync(MeshRequest request, int depth, CancellationToken cancellationToken)
    {
        var frame = request.Frames[depth];
        frame.Attempts++;
        request.Authority = frame.Authority;
        var context = request.Context;
        if (!context.Response.HasStarted)
        {
            context.Response.Clear();
        }

        var cluster = frame.Destination!.Cluster;
        frame.UpstreamHost = cluster.Name;
        if (cluster.Outlier is not null && cluster.Detector.IsEjected(out _))
        {
            return await LocalReplyAsync(request, depth, StatusCodes.Status503ServiceUnavailable, NoHealthyUpstreamBody, ResponseFlags.NoHealthyUpstream);
        }
        if (!await cluster.Pool.TryEnterAsync(cancellationToken))
        {
            return await LocalReplyAsync(request, depth, StatusCodes.Status503ServiceUnavailable,
                ResetBefore + "reset reason: overflow", ResponseFlags.UpstreamOverflow);
        }

        AttemptOutcome outcome;
        try
        {
            if (cluster.IsEgressGateway)
            {
                outcome = cluster.GatewayAcceptsSni
                    ? await RunStageAsync(request, depth + 1, cluster.Port, cancellationToken)
                    : AttemptOutcome.Failure(OutcomeKind.ConnectFailure, ResponseFlags.UpstreamConnectionFailure,
                        $"reset reason: connection failure, transport failure reason: the egress gateway has no server for SNI '{cluster.GatewaySni}' on port {cluster.Port}");
            }
            else
            {
                outcome = await ForwardAsync(request, depth, cluster, cancellationToken);
            }
        }
        finally
        {
            cluster.Pool.Exit();
        }

        if (cluster.Outlier is { } outlier
            && cluster.Detector.Record(outlier, outcome.Status, localOriginFailure: outcome.Kind != OutcomeKind.Response))
        {
            Log.EndpointEjected(logger, cluster.Name, outlier.BaseEjectionTime);
        }
        return outcome;
    }

    private async ValueTask<AttemptOutcome> ForwardAsync(MeshRequest request, int depth, Cluster cluster, CancellationToken cancellationToken)
    {
        var context = request.Context;
        var transformer = request.Transformer;
        transformer.Depth = depth;
        var error = await forwarder.SendAsync(context, cluster.DestinationPrefix, clients.GetClient(cluster.Transport!),
            RequestConfig, transformer, cancellationToken);
        if (error == ForwarderError.None)
        {
            return transformer.Outcome;
        }
        cancellationToken.ThrowIfCancellationRequested();

        var exception = context.Features.Get<IForwarderErrorFeature>()?.Exception;
        if (context.Response.HasStarted)
        {
            // Too late to answer differently: the client sees a truncated response, as with Envoy.
            request.Frames[depth].Flags |= ResponseFlags.UpstreamRemoteReset;
            return new AttemptOutcome(OutcomeKind.Response, context.Response.StatusCode, Committed: true, ResponseFlags.UpstreamRemoteReset);
        }
        context.Response.Clear();

        var reason = Describe(exception);
        if (error == ForwarderError.Request && exception is HttpRequestException
            {
                HttpRequestError: HttpRequestError.ConnectionError or HttpRequestError.SecureConnectionError or HttpRequestError.NameResolutionError,
            })
        {
            Log.UpstreamConnectFailed(logger, cluster.Name, reason);
            return AttemptOutcome.Failure(OutcomeKind.ConnectFailure, ResponseFlags.UpstreamConnectionFailure,
                $"reset reason: connection failure, transport failure reason: {reason}");
        }
        Log.UpstreamReset(logger, cluster.Name, error.ToString(), reason);
        return AttemptOutcome.Failure(OutcomeKind.Reset, ResponseFlags.UpstreamRemoteReset, $"reset reason: remote reset ({reason})");
    }

    /// <summary>
    /// A reply made by the proxy at <paramref name="depth"/>: it is an upstream response for the stages outside it,
    /// so it is held back when one of them is going to retry it.
    /// </summary>
    private static async ValueTask<AttemptOutcome> LocalReplyAsync(MeshRequest request, int depth, int status, string body, ResponseFlags flags)
    {
        request.Frames[depth].Flags |= flags;
        if (request.AnyStageWouldRetry(status, depth - 1))
        {
            return new AttemptOutcome(OutcomeKind.Response, status, Committed: false, flags, body) { LocalReply = true };
        }
        MeshTransformer.ApplyResponseHeaders(request, request.Context.Response.Headers, depth - 1);
        await WriteAsync(request.Context, status, body);
        return new AttemptOutcome(OutcomeKind.Response, status, Committed: true, flags, body) { LocalReply = true };
    }

    private static async Task WriteAsync(HttpContext context, int status, string body)
    {
        if (context.Response.HasStarted)
        {
            return;
        }
        context.Response.StatusCode = status;
        if (body.Length > 0)
        {
            context.Response.ContentType = "text/plain";
            context.Response.ContentLength = System.Text.Encoding.UTF8.GetByteCount(body);
            await context.Response.WriteAsync(body);
        }
        else
        {
            context.Response.ContentLength = 0;
        }
    }

    private static void ApplyRequestHeaders(MeshRequest request, CompiledDestination destination)
    {
        if (destination.HostHeader is { } host)
        {
            request.Authority = host;
        }
        var headers = request.Context.Request.Headers;
        foreach (var operations in destination.RequestHeaderOperations)
        {
            foreach (var (name, value) in operations.Set)
            {
                if (!IsAuthority(name))
                {
                    headers[name] = value;
                }
            }
            foreach (var (name, value) in operations.Add)
            {
                if (!IsAuthority(name))
                {
                    headers.Append(name, value);
                }
            }
            foreach (var name in operations.Remove)
            {
                headers.Remove(name);
            }
        }
    }

    // Istio: a prefix match's prefix is replaced; otherwise the whole path is.
    private static void RewritePath(HttpRequest request, HttpRoute route, string rewrite)
    {
        var path = request.Path.Value ?? "/";
        var prefix = route.Match
            .Select(m => m.Uri)
            .FirstOrDefault(u => u is { Kind: StringMatchKind.Prefix } && path.StartsWith(u.Value, StringComparison.Ordinal));
        request.Path = prefix is null ? rewrite : rewrite + path[prefix.Value.Length..];
    }

    private static bool HasControlCharacter(string? target) =>
        target is not null && target.AsSpan().IndexOfAnyInRange('\u0000', '\u0020') >= 0 || target?.Contains('\u007f', StringComparison.Ordinal) == true;

    private static bool IsAuthority(string name) =>
        name.Equals("host", StringComparison.OrdinalIgnoreCase) || name == ":authority";

    private static bool Roll(double percentage) =>
        percentage >= 100 || (percentage > 0 && Random.Shared.NextDouble() * 100 < percentage);

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
