using Demo.EgressGateway.Envoy;
using Microsoft.AspNetCore.Http.Features;
using Polly;
using Polly.Timeout;

namespace Demo.EgressGateway.Mesh;

// MeshRequestHandler, continued: Envoy's router filter (source/common/router/router.cc) — the route's direct response,
// the fault filter before it, the weighted cluster pick, the route timeout around the retries, each try under its
// per-try timer, and the host each try picks.
public sealed partial class MeshRequestHandler
{
    private async ValueTask<AttemptOutcome> RouteAsync(ActiveStream request, StreamInfo frame, int port, CancellationToken cancellationToken)
    {
        var isSidecar = request.IsSidecar;
        var proxy = request.Proxy;
        if (isSidecar && HttpMethods.IsConnect(request.Context.Request.Method))
        {
            // Envoy's CONNECT support is off unless a route enables it (Istio's HTTP routes do not): an internal 403,
            // no tunnel, whatever the authority.
            return await LocalReplyAsync(request, StatusCodes.Status403Forbidden, "", ResponseFlags.None);
        }
        if (isSidecar && HttpProtocol.IsHttp10(request.Context.Request.Protocol))
        {
            // Istio leaves Envoy's accept_http_10 off (PILOT_HTTP10 unset): the codec answers 426 Upgrade Required.
            frame.Details = "http1.0_not_allowed";
            return await LocalReplyAsync(request, StatusCodes.Status426UpgradeRequired, "", ResponseFlags.None);
        }
        if (isSidecar && HasControlCharacter(request.Context.Features.Get<IHttpRequestFeature>()?.RawTarget))
        {
            // Kestrel lets control characters through in the request target; Envoy's codec refuses them.
            return await LocalReplyAsync(request, StatusCodes.Status400BadRequest, "", ResponseFlags.None);
        }

        RouteConfigurationRuntime routes;
        if (isSidecar)
        {
            // The HTTP chain of the port's listener (TLS chains, chosen by SNI, carry tunnelled TLS: SidecarTunnel).
            if (proxy.FindListener(port)?.Match(null, "raw_buffer") is { Routes: { } httpRoutes })
            {
                routes = httpRoutes;
            }
            else if (proxy.Passthrough is { } passthrough)
            {
                routes = passthrough;
            }
            else
            {
                // No HTTP listener for this port (e.g. a plain-HTTP request to an HTTPS port, or a port nothing
                // registers): the connection goes to the BlackHoleCluster — Envoy's TCP proxy closes it (UH).
                frame.Flags |= ResponseFlags.NoHealthyUpstream;
                frame.UpstreamHost = IstioTranslator.BlackHoleCluster;
                frame.Details = "blackhole";
                request.Context.Abort();
                return new AttemptOutcome(OutcomeKind.Response, 0, Committed: true, ResponseFlags.NoHealthyUpstream) { LocalReply = true };
            }
        }
        else
        {
            routes = request.Routes!;
        }

        var virtualHost = routes.FindVirtualHost(request.Authority);
        RouteEntry? route = null;
        foreach (var candidate in virtualHost?.Routes ?? [])
        {
            if (candidate.Matcher.Matches(request.Context.Request, request.Authority))
            {
                route = candidate;
                break;
            }
        }
        if (route is null)
        {
            frame.Details = "route_not_found";
            return await LocalReplyAsync(request, StatusCodes.Status404NotFound, "", ResponseFlags.NoRouteFound);
        }
        frame.Route = route;
        // Envoy's ConnectionManagerImpl::ActiveStream::traceRequest: on an OUTBOUND listener (Istio's sidecar outbound
        // and gateway listeners) the connection manager tells the upstream its route's decorator operation. Istio writes
        // the tracing block that runs it by default (mesh enableTracing: true; tracing.go configureTracingFromTelemetry).
        if (route.Config.Decorator is { Operation: { Length: > 0 } operation })
        {
            request.Context.Request.Headers["x-envoy-decorator-operation"] = operation;
        }

        // Istio's HTTP filter order: CORS, then fault, then the router (whose work includes redirects and direct responses).
        if (route.Cors?.DecodeHeaders(request.Context) == true)
        {
            frame.Details = "cors_response";
            return await LocalReplyAsync(request, StatusCodes.Status200OK, "", ResponseFlags.None);
        }
        if (route.Config.Redirect is { } redirect)
        {
            // router.cc: a redirect route answers itself — its response code, an empty body, and the Location
            // (Http::Utility::newUri); details direct_response, no response flag.
            request.Context.Response.Headers.Location = NewUri(request, redirect, route.Config.Match.Prefix);
            frame.Details = "direct_response";
            return await LocalReplyAsync(request, redirect.Status, "", ResponseFlags.None);
        }
        if (route.Config.DirectResponse is { } direct)
        {
            // router.cc decodeHeaders: a direct response of 201 or 3xx carries the Location newUri makes of the request.
            if (direct.Status is 201 or (>= 300 and < 400) && route.Name != IstioTranslator.BlockAllRoute)
            {
                request.Context.Response.Headers.Location = NewUri(request, new RedirectAction(null, null, null, null, null, RedirectAction.ResponseCodeOf(direct.Status)), null);
            }
            // Istio's block_all (REGISTRY_ONLY): a direct response, no response flag, reported as the BlackHoleCluster.
            frame.UpstreamHost = route.Name == IstioTranslator.BlockAllRoute ? IstioTranslator.BlackHoleCluster : "-";
            frame.Details = "direct_response";
            return direct.Body?.InlineBytes is { } bytes
                ? await LocalReplyAsync(request, direct.Status, bytes, ResponseFlags.None)
                : await LocalReplyAsync(request, direct.Status, direct.Body?.InlineString ?? "", ResponseFlags.None);
        }

        if (route.Config.Fault is { } fault && await FaultFilter.DecodeHeadersAsync(fault, frame, cancellationToken) is { } abortStatus)
        {
            frame.Details = FaultFilter.AbortDetails;
            return await LocalReplyAsync(request, abortStatus, FaultFilter.AbortBody, ResponseFlags.FaultInjected);
        }

        var destination = route.PickDestination();
        frame.Destination = destination;
        if (destination.Cluster is null)
        {
            frame.UpstreamHost = destination.ClusterName;
            frame.Details = "cluster_not_found";
            return await LocalReplyAsync(request, StatusCodes.Status503ServiceUnavailable, "", ResponseFlags.NoClusterFound);
        }
        ApplyRequestHeaders(request, destination);
        if (route.Config.Action?.PrefixRewrite is { } prefixRewrite)
        {
            RewritePath(request.Context.Request, route.Config.Match, prefixRewrite);
        }
        frame.Authority = request.Authority;
        if (route.Mirrors.Count > 0)
        {
            await ShadowWriter.MirrorAsync(request.Context, request.Authority, route.Mirrors, clients, logger);
        }

        AttemptOutcome outcome;
        var resilience = ResilienceContextPool.Shared.Get(cancellationToken);
        resilience.Properties.Set(MeshSnapshotCompiler.FrameKey, frame);
        frame.RouteTimerStart = TimeProvider.System.GetTimestamp();
        try
        {
            outcome = await route.Pipeline.ExecuteAsync(
                static (context, state) => state.Handler.TryAsync(state.Request, context.CancellationToken),
                resilience,
                (Handler: this, Request: request));
        }
        catch (TimeoutRejectedException timeout)
        {
            // Envoy's router: the last try's per-try timeout ends the request as upstream_per_try_timeout, with URX
            // when it used up the retries; the route timeout as upstream_response_timeout.
            var routeTimeout = route.Config.Action?.Timeout ?? TimeSpan.Zero;
            var perTryTimedOut = route.Retry.PerTryTimeout is { } perTryTimeout && timeout.Timeout == RetryState.Timer(perTryTimeout)
                && (routeTimeout <= TimeSpan.Zero || timeout.Timeout != RetryState.Timer(routeTimeout));
            var flags = ResponseFlags.UpstreamRequestTimeout
                | (perTryTimedOut && route.Retry.Attempts > 0 && frame.Attempts > route.Retry.Attempts ? ResponseFlags.UpstreamRetryLimitExceeded : ResponseFlags.None);
            frame.Details = perTryTimedOut ? "upstream_per_try_timeout" : "upstream_response_timeout";
            return await LocalReplyAsync(request, StatusCodes.Status504GatewayTimeout, TimeoutBody, flags);
        }
        finally
        {
            ResilienceContextPool.Shared.Return(resilience);
        }

        var exhausted = route.Retry.Attempts > 0 && frame.Attempts > route.Retry.Attempts;
        if (outcome.Kind != OutcomeKind.Response)
        {
            var flags = outcome.Flags | (exhausted ? ResponseFlags.UpstreamRetryLimitExceeded : ResponseFlags.None);
            // Envoy's router: "retried and the latest reset reason: …" once it has retried.
            frame.Details = outcome.Flags.HasFlag(ResponseFlags.UpstreamConnectionTermination)
                ? "upstream_reset_before_response_started{connection_termination}"
                : "upstream_reset_before_response_started{remote_connection_failure}";
            var detail = frame.Attempts > 1 && outcome.Detail is { } latest ? "retried and the latest " + latest : outcome.Detail;
            return await LocalReplyAsync(request, StatusCodes.Status503ServiceUnavailable, ResetBefore + detail, flags);
        }
        // An inner stage's flags stay on its own access-log line: this proxy only saw the response.
        if (exhausted && route.Retry.RetriesStatus(outcome.Status))
        {
            frame.Flags |= ResponseFlags.UpstreamRetryLimitExceeded;
        }
        return outcome;
    }

    // One try under its per-try timeout (Envoy's UpstreamRequest::setupPerTryTimeout): a timed-out try ends as Polly's
    // timeout strategy would end it, so the retry policy and the router classify it alike.
    private async ValueTask<AttemptOutcome> TryAsync(ActiveStream request, CancellationToken cancellationToken)
    {
        if (request.Frame.Route!.Retry.PerTryTimeout is not { } timeout)
        {
            return await AttemptAsync(request, cancellationToken);
        }
        using var timer = new PerTryTimer(timeout, cancellationToken);
        request.Frame.PerTryTimer = timer;
        try
        {
            return await AttemptAsync(request, timer.Token);
        }
        catch (OperationCanceledException canceled) when (timer.Expired(cancellationToken))
        {
            throw timer.Timeout(canceled);
        }
        finally
        {
            request.Frame.PerTryTimer = null;
        }
    }

    private async ValueTask<AttemptOutcome> AttemptAsync(ActiveStream request, CancellationToken cancellationToken)
    {
        var frame = request.Frame;
        frame.Attempts++;
        request.Authority = frame.Authority;
        var context = request.Context;
        // Istio sets include_request_attempt_count; the router tells the upstream the time it will wait.
        context.Request.Headers["x-envoy-attempt-count"] = frame.Attempts < AttemptCounts.Length
            ? AttemptCounts[frame.Attempts]
            : frame.Attempts.ToString(System.Globalization.CultureInfo.InvariantCulture);
        var elapsed = frame.Attempts == 1 ? TimeSpan.Zero : TimeProvider.System.GetElapsedTime(frame.RouteTimerStart);
        if (frame.Route!.ExpectedTimeoutMs(elapsed) is { } expectedTimeout)
        {
            context.Request.Headers["x-envoy-expected-rq-timeout-ms"] = expectedTimeout.ToString(System.Globalization.CultureInfo.InvariantCulture);
        }
        if (!context.Response.HasStarted)
        {
            context.Response.Clear();
        }

        var cluster = frame.Destination!.Cluster!;
        var retry = frame.RetryInFlight;
        frame.RetryInFlight = false;
        try
        {
            // An ORIGINAL_DST cluster with an endpoint of its own (a NONE-resolution host) forwards to it; without (the
            // PassthroughCluster, a wildcard host), to the request's own destination.
            var host = cluster is { OriginalDestinationHost: not null, Hosts.Count: 0 }
                ? OriginalDestination(request, cluster)
                : cluster.PickHost(frame.AttemptedHosts, frame.Route!.Retry.AvoidPreviousHosts,
                    frame.Route.Config.Action is { HashPolicy.Count: > 0 } action ? RingHashLoadBalancer.RequestHash(action.HashPolicy, request.Context) : null);
            frame.UpstreamHost = cluster.Name;
            if (host is null)
            {
                frame.Details = "no_healthy_upstream";
                return await LocalReplyAsync(request, StatusCodes.Status503ServiceUnavailable, NoHealthyUpstreamBody, ResponseFlags.NoHealthyUpstream);
            }
            frame.Host = host;
            frame.AttemptedHosts.Add(host);
            if (!await cluster.Pool.TryEnterAsync(cancellationToken))
            {
                frame.Details = "upstream_reset_before_response_started{overflow}";
                return await LocalReplyAsync(request, StatusCodes.Status503ServiceUnavailable,
                    ResetBefore + "reset reason: overflow", ResponseFlags.UpstreamOverflow);
            }

            var outcome = default(AttemptOutcome);
            host.Enter();
            try
            {
                outcome = request.SpawnsUpstreamSpan
                    ? await ForwardInUpstreamSpanAsync(request, cluster, host, cancellationToken)
                    : await ForwardAsync(request, cluster, host, cancellationToken);
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested && !frame.Downstream.IsCancellationRequested)
            {
                // This proxy's own route or per-try timeout: Envoy's router records it on the host as LocalOriginTimeout
                // (a 504). When the downstream went away instead (the sidecar's timeout ending its attempt on the
                // gateway), Envoy resets the upstream request and records nothing.
                if (cluster.Outlier is { } timedOut && host.Health.Record(timedOut, cluster.Hosts.Count, 504, localOriginFailure: true))
                {
                    Log.EndpointEjected(logger, $"{host.Endpoint.Address}:{host.Endpoint.PortValue}", cluster.Name, host.Health.Ejections,
                        host.Health.RemainingEjection(timedOut));
                }
                throw;
            }
            finally
            {
                host.Exit();
                cluster.Pool.Exit();
            }

            if (cluster.Outlier is { } outlier
                && host.Health.Record(outlier, cluster.Hosts.Count, outcome.Status, localOriginFailure: outcome.Kind != OutcomeKind.Response))
            {
                Log.EndpointEjected(logger, $"{host.Endpoint.Address}:{host.Endpoint.PortValue}", cluster.Name, host.Health.Ejections,
                    host.Health.RemainingEjection(outlier));
            }
            return outcome;
        }
        finally
        {
            if (retry)
            {
                cluster.EndRetry();
            }
        }
    }

    private static void ApplyRequestHeaders(ActiveStream request, WeightedClusterEntry destination)
    {
        if (destination.HostRewrite is { } host)
        {
            request.Authority = host;
        }
        var headers = request.Context.Request.Headers;
        foreach (var operations in destination.RequestHeaderOperations)
        {
            MeshTransformer.Apply(operations, headers);
        }
    }

    // Envoy's prefix_rewrite: the matched prefix is replaced; for an exact path or a regex match, the whole path.
    private static void RewritePath(HttpRequest request, RouteMatch match, string rewrite)
    {
        var path = request.Path.Value ?? "/";
        request.Path = match.Prefix is { } prefix && path.Length >= prefix.Length
            ? rewrite + path[prefix.Length..]
            : rewrite;
    }

    // The PassthroughCluster's destination: the address the app dialled, which reaches its sidecar as the request's
    // Host (its port, else the listener's).
    private static HostRuntime OriginalDestination(ActiveStream request, ClusterRuntime cluster)
    {
        var authority = Envoy.HttpUtility.ParseAuthority(request.Authority);
        return cluster.OriginalDestination(authority.Host, authority.Port ?? request.Context.Request.Host.Port ?? 80);
    }

    // Http::Utility::newUri for this request: its Host, x-forwarded-proto (the scheme it arrived with), path and query.
    private static string NewUri(ActiveStream request, RedirectAction redirect, string? matchedPrefix)
    {
        var http = request.Context.Request;
        return Envoy.HttpUtility.NewUri(redirect, request.Authority,
            http.Headers["x-forwarded-proto"].ToString() is { Length: > 0 } proto ? proto : http.Scheme,
            http.Path.Value + http.QueryString.Value, matchedPrefix);
    }
}
