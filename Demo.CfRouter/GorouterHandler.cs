using System.Diagnostics;
using System.Globalization;
using System.Net;
using Microsoft.Extensions.Options;
using Yarp.ReverseProxy.Forwarder;

namespace Demo.CfRouter;

/// <summary>
/// gorouter's request path on the apps' HTTPS port, on YARP's forwarder:
/// <list type="bullet">
/// <item>Host → route (<c>handlers/lookup.go</c> <c>lookupHandler.ServeHTTP</c>): an unknown route, or one without
/// instances, is 404 with <c>X-Cf-Routererror: unknown_route</c> and the body
/// <c>404 Not Found: Requested route ('&lt;host&gt;') does not exist.</c>; an empty Host is 400 <c>empty_host</c>.</item>
/// <item><c>X-CF-APP-INSTANCE: &lt;app guid&gt;:&lt;index&gt;</c> (<see cref="AppInstanceHeader"/>) picks that one
/// instance of the route (<c>registry/registry.go</c> <c>LookupWithAppInstance</c>); malformed, it is 400
/// <c>invalid_cf_app_instance_header</c> (<c>handleInvalidAppInstanceHeader</c>); naming no instance of the route,
/// 400 <c>unknown_route</c> with <see cref="UnknownInstanceBody"/> (<c>handleMissingRoute</c>).</item>
/// <item>Up to <see cref="CfRouterOptions.MaxAttempts"/> attempts, round-robin over the route's instances and never
/// back to one already tried once every instance had its turn (<c>proxy/round_tripper/proxy_round_tripper.go</c>
/// <c>roundTripper.RoundTrip</c>, <c>route/roundrobin.go</c>). Only what <see cref="BackendFailure"/> calls retriable
/// moves on to another instance.</item>
/// <item>When no attempt got a response: 502 with <c>X-Cf-Routererror: endpoint_failure (&lt;error&gt;)</c> and the body
/// <c>502 Bad Gateway: Registered endpoint failed to handle the request.</c> (<c>proxy/round_tripper/error_handler.go</c>
/// <c>ErrorHandler.HandleError</c>); the error is Go's text of the last attempt's (<see cref="BackendFailure.Error"/>).</item>
/// </list>
/// </summary>
public sealed class GorouterHandler(
    IHttpForwarder forwarder,
    RouteRegistry registry,
    GorouterTelemetry telemetry,
    IOptions<CfRouterOptions> options,
    TimeProvider time,
    ILogger<GorouterHandler> logger)
{
    public const string RouterErrorHeader = "X-Cf-Routererror";
    public const string BadGatewayBody = "502 Bad Gateway: Registered endpoint failed to handle the request.";
    public const string InvalidAppInstanceHeaderBody = "400 Bad Request: Invalid X-CF-App-Instance Header";

    private readonly HttpMessageInvoker _client = CreateClient(options.Value);
    private readonly ForwarderRequestConfig _requestConfig = new()
    {
        ActivityTimeout = options.Value.EndpointTimeout,
        Version = HttpVersion.Version11,
        VersionPolicy = HttpVersionPolicy.RequestVersionExact,
    };
    private readonly long _startedAt = Stopwatch.GetTimestamp();

    /// <summary>gorouter's access-log time (<c>formatStartedAt</c>): UTC, nanosecond digits, a literal <c>Z</c>.</summary>
    private static string FormatStartedAt(DateTimeOffset at) =>
        at.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fffffff", CultureInfo.InvariantCulture) + "00Z";

    public static string UnknownRouteBody(string host) => $"404 Not Found: Requested route ('{host}') does not exist.";

    /// <summary>gorouter <c>handleMissingRoute</c> when the request named an instance: the status is then 400, not 404.</summary>
    public static string UnknownInstanceBody(AppInstanceHeader instance, string host) =>
        $"400 Bad Request: Requested instance ('{instance.Index}') with guid ('{instance.AppId}') does not exist for route ('{host}')";

    public async Task HandleAsync(HttpContext context)
    {
        var started = Stopwatch.GetTimestamp();
        var receivedAt = time.GetUtcNow();
        var request = context.Request;
        var host = request.Host.Value ?? "";
        using var activity = GorouterTelemetry.ActivitySource.StartActivity("gorouter " + request.Method) ?? StartUnrecordedSpan(context);
        activity.SetTag("cf.route", request.Host.Host);
        var vcapRequestId = VcapRequestId(Activity.Current);

        RouteEndpoint? backend = null;
        var attempts = 0;
        var routerError = "";
        var instance = AppInstanceHeader.Read(request, out var malformedInstance);
        if (request.Host.Host.Length == 0)
        {
            routerError = "empty_host";
            await WriteErrorAsync(context, StatusCodes.Status400BadRequest, routerError, "400 Bad Request: Request had empty Host header",
                "public,max-age=2");
        }
        else if (malformedInstance)
        {
            routerError = "invalid_cf_app_instance_header";
            await WriteErrorAsync(context, StatusCodes.Status400BadRequest, routerError, InvalidAppInstanceHeaderBody, "no-cache, no-store");
        }
        else if (await LookupAsync(request.Host.Host, instance, context.RequestAborted) is not { } pool)
        {
            routerError = "unknown_route";
            var (missingStatus, body) = instance is { } wanted
                ? (StatusCodes.Status400BadRequest, UnknownInstanceBody(wanted, host))
                : (StatusCodes.Status404NotFound, UnknownRouteBody(host));
            await WriteErrorAsync(context, missingStatus, routerError, body, "no-cache, no-store");
        }
        else
        {
            (backend, attempts, var failure) = await ForwardAsync(context, pool, new GorouterTransformer(vcapRequestId, receivedAt));
            if (failure is not null)
            {
                routerError = $"endpoint_failure ({failure})";
                await WriteErrorAsync(context, StatusCodes.Status502BadGateway, routerError, BadGatewayBody, cacheControl: null);
            }
        }

        var status = context.Response.StatusCode;
        activity.SetTag("http.response.status_code", status);
        activity.SetTag("cf.app_id", backend?.App);
        activity.SetTag("cf.app_index", backend?.InstanceIndex);
        activity.SetTag("cf.backend", backend?.Address);
        activity.SetTag("cf.attempts", attempts);
        if (routerError.Length > 0)
        {
            activity.SetTag("cf.router_error", routerError);
            if (status >= 500)
            {
                activity.SetStatus(ActivityStatusCode.Error, routerError);
            }
        }
        var errorKind = routerError.Split(' ', 2)[0];
        telemetry.Record(request.Host.Host, status, errorKind);
        Log.Access(logger, host, FormatStartedAt(receivedAt), request.Method, request.Path + request.QueryString, request.Protocol, status,
            request.Headers["X-Forwarded-For"].ToString().OrDash(),
            request.Headers["X-Forwarded-Proto"].ToString() is { Length: > 0 } xfp ? xfp : (request.IsHttps ? "https" : "http"),
            vcapRequestId, Stopwatch.GetElapsedTime(started).TotalSeconds, (backend?.App).OrDash(), (backend?.InstanceIndex).OrDash(),
            (backend?.Address).OrDash(), attempts, routerError.OrDash(),
            Activity.Current?.TraceId.ToString() ?? "-", Activity.Current?.SpanId.ToString() ?? "-");
    }

    /// <summary>
    /// The route's pool when it has instances, or with <paramref name="instance"/> a pool of just that instance
    /// (<see cref="EndpointPool.ForAppInstance"/>). Right after start the router has not heard every registration yet,
    /// so a route without instances waits out <see cref="CfRouterOptions.StartResponseDelayInterval"/> before it is unknown.
    /// </summary>
    private async Task<EndpointPool?> LookupAsync(string host, AppInstanceHeader? instance, CancellationToken cancellationToken)
    {
        var pool = registry.Lookup(host);
        var untilReady = options.Value.StartResponseDelayInterval - Stopwatch.GetElapsedTime(_startedAt);
        if ((pool is null || pool.Count == 0) && untilReady > TimeSpan.Zero)
        {
            await Task.Delay(untilReady, time, cancellationToken);
            pool = registry.Lookup(host);
        }
        if (instance is { } wanted)
        {
            pool = pool?.ForAppInstance(wanted.AppId, wanted.Index);
        }
        return pool is { Count: > 0 } ? pool : null;
    }

    /// <summary>
    /// gorouter <c>roundTripper.RoundTrip</c>: attempt <c>n</c> takes the iterator's next instance; from the second
    /// attempt on, once <c>n</c> exceeds the route's instance count, an instance already tried ends the loop. A failed
    /// attempt marks its instance failed when the error is failable, and moves on only when it is retriable. The
    /// failure is the last attempt's error (<see cref="BackendFailure.NoEndpointsAvailable"/> when no instance was
    /// left to try); null when an instance answered or the client went away.
    /// </summary>
    private async Task<(RouteEndpoint? Backend, int Attempts, string? Failure)> ForwardAsync(HttpContext context, EndpointPool pool,
        GorouterTransformer transformer)
    {
        var iterator = pool.Iterate();
        var tried = new HashSet<string>(StringComparer.Ordinal);
        RouteEndpoint? backend = null;
        string? failure = null;
        var attempts = 0;
        for (var attempt = 1; attempt <= options.Value.MaxAttempts; attempt++)
        {
            var next = iterator.Next(time.GetUtcNow());
            if (attempt > 1 && attempt > pool.Count && next is not null && tried.Contains(next.Address))
            {
                break;
            }
            if (next is null)
            {
                failure ??= BackendFailure.NoEndpointsAvailable;
                break;
            }
            attempts = attempt;
            backend = next;
            tried.Add(backend.Address);
            transformer.Endpoint = backend;

            var (error, exception) = await SendAsync(context, backend, transformer);
            if (error == ForwarderError.None)
            {
                return (backend, attempts, null);
            }
            if (context.RequestAborted.IsCancellationRequested)
            {
                // The client went away: gorouter logs 499 and writes nothing more.
                context.Response.StatusCode = 499;
                return (backend, attempts, null);
            }
            var outcome = BackendFailure.Of(error, exception, context.Request, backend.Address);
            var retriable = outcome.Retriable && !context.Response.HasStarted;
            Log.BackendEndpointFailed(logger, pool.Host, backend.Address, backend.App.OrDash(), backend.InstanceIndex.OrDash(), attempt,
                outcome.Classified, retriable);
            if (context.Response.HasStarted)
            {
                return (backend, attempts, null);
            }
            context.Response.Clear();
            failure = outcome.Error;
            if (outcome.Failable)
            {
                iterator.EndpointFailed(time.GetUtcNow());
            }
            if (!retriable)
            {
                break;
            }
        }
        return (backend, attempts, failure);
    }

    /// <summary>
    /// One attempt on <paramref name="backend"/>, with the retry Go's transport makes by itself (<c>net/http</c>
    /// <c>persistConn.shouldRetryRequest</c>): a replayable request whose kept-alive connection closed or failed before
    /// the first byte of the response goes again, on another connection to the same instance.
    /// </summary>
    private async Task<(ForwarderError Error, Exception? Exception)> SendAsync(HttpContext context, RouteEndpoint backend,
        GorouterTransformer transformer)
    {
        while (true)
        {
            if (!context.Response.HasStarted)
            {
                context.Response.Clear();
            }
            var error = await forwarder.SendAsync(context, backend.DestinationPrefix, _client, _requestConfig, transformer,
                context.RequestAborted);
            var exception = error == ForwarderError.None ? null : context.Features.Get<IForwarderErrorFeature>()?.Exception;
            if (exception is BackendConnectionException { Reused: true } && BackendFailure.IsReplayable(context.Request)
                && !context.Response.HasStarted && !context.RequestAborted.IsCancellationRequested)
            {
                continue;
            }
            return (error, exception);
        }
    }

    /// <summary>gorouter's plain-text error writer: <c>&lt;code&gt; &lt;status text&gt;: &lt;message&gt;\n</c>, nosniff.</summary>
    private static async Task WriteErrorAsync(HttpContext context, int status, string routerError, string body, string? cacheControl)
    {
        var response = context.Response;
        if (response.HasStarted)
        {
            return;
        }
        response.Clear();
        response.StatusCode = status;
        response.Headers[RouterErrorHeader] = routerError;
        if (cacheControl is not null)
        {
            response.Headers.CacheControl = cacheControl;
        }
        response.Headers["X-Content-Type-Options"] = "nosniff";
        response.ContentType = "text/plain; charset=utf-8";
        await response.WriteAsync(body + "\n");
    }

    /// <summary>
    /// Without a trace listener (no telemetry exporter) the router still keeps W3C trace context with a span of its own,
    /// as gorouter does: a plain <see cref="Activity"/>, child of the incoming <c>traceparent</c>, that the client
    /// handler's propagator sends on.
    /// </summary>
    private static Activity StartUnrecordedSpan(HttpContext context)
    {
        var activity = new Activity("gorouter " + context.Request.Method);
        if (Activity.Current is null
            && ActivityContext.TryParse(context.Request.Headers.TraceParent.ToString(), context.Request.Headers.TraceState.ToString(), out var parent))
        {
            activity.SetParentId(parent.TraceId, parent.SpanId, parent.TraceFlags);
            activity.TraceStateString = parent.TraceState;
        }
        return activity.Start();
    }

    /// <summary>
    /// With W3C tracing gorouter derives the request id from the incoming trace id, formatted as a UUID
    /// (<c>handlers/requestinfo.go</c> <c>SetTraceInfo</c>), so the two correlate.
    /// </summary>
    private static string VcapRequestId(Activity? activity)
    {
        var traceId = activity?.TraceId.ToHexString();
        if (traceId is not { Length: 32 } || traceId == new string('0', 32))
        {
            return Guid.NewGuid().ToString();
        }
        return $"{traceId[..8]}-{traceId[8..12]}-{traceId[12..16]}-{traceId[16..20]}-{traceId[20..]}";
    }

    private static HttpMessageInvoker CreateClient(CfRouterOptions options) => new(new SocketsHttpHandler
    {
        UseProxy = false,
        AllowAutoRedirect = false,
        AutomaticDecompression = DecompressionMethods.None,
        UseCookies = false,
        ConnectTimeout = options.EndpointDialTimeout,
        PooledConnectionIdleTimeout = TimeSpan.FromSeconds(90),
        ActivityHeadersPropagator = new ReverseProxyPropagator(DistributedContextPropagator.Current),
        ConnectCallback = BackendConnection.ConnectAsync,
    }, disposeHandler: true);
}
