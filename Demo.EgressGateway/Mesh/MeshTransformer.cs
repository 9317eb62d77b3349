using Yarp.ReverseProxy.Forwarder;

namespace Demo.EgressGateway.Mesh;

/// <summary>
/// Sets the Host of the forwarded request, and decides when the upstream's response arrives whether it goes to
/// the client now or is held back because this proxy's router will retry it (Envoy never streams a retried response).
/// </summary>
public sealed class MeshTransformer(ActiveStream request) : HttpTransformer
{
    public AttemptOutcome Outcome { get; private set; }

    public override async ValueTask TransformRequestAsync(HttpContext httpContext, HttpRequestMessage proxyRequest,
        string destinationPrefix, CancellationToken cancellationToken)
    {
        await base.TransformRequestAsync(httpContext, proxyRequest, destinationPrefix, cancellationToken);
        proxyRequest.Headers.Host = request.Authority;
        if (request.Frame.Destination?.Cluster is { IsEgressGateway: true })
        {
            // Envoy's tracer injects the sidecar's span into the request it sends upstream: the gateway's span is its child.
            proxyRequest.Headers.Remove("traceparent");
            proxyRequest.Headers.Remove("tracestate");
            if (request.Frame.Activity is { IdFormat: System.Diagnostics.ActivityIdFormat.W3C } span)
            {
                proxyRequest.Headers.TryAddWithoutValidation("traceparent", span.Id);
                if (span.TraceStateString is { Length: > 0 } state)
                {
                    proxyRequest.Headers.TryAddWithoutValidation("tracestate", state);
                }
            }
        }
        if (request.Frame.PerTryTimer is { } perTry)
        {
            proxyRequest.Options.Set(PerTryTimer.OptionKey, perTry);
        }
        if (request.Frame.Destination?.Cluster?.Config.HttpProtocolOptions?.CommonHttpProtocolOptions?.MaxRequestsPerConnection == 1)
        {
            // max_requests_per_connection 1: the connection serves this request only.
            proxyRequest.Headers.ConnectionClose = true;
        }
    }

    public override async ValueTask<bool> TransformResponseAsync(HttpContext httpContext, HttpResponseMessage? proxyResponse,
        CancellationToken cancellationToken)
    {
        var status = proxyResponse is null ? httpContext.Response.StatusCode : (int)proxyResponse.StatusCode;
        if (request.WouldRetry(status))
        {
            Outcome = new AttemptOutcome(OutcomeKind.Response, status, Committed: false, ResponseFlags.None);
            return false;
        }
        var copyBody = await base.TransformResponseAsync(httpContext, proxyResponse, cancellationToken);
        ApplyResponseHeaders(request, httpContext.Response.Headers);
        Outcome = new AttemptOutcome(OutcomeKind.Response, status, Committed: true, ResponseFlags.None);
        return copyBody;
    }

    /// <summary>
    /// The response header operations of the destination this proxy's route picked, and the cookies a cookie hash policy
    /// generated (router.cc encodeHeaders adds downstream_set_cookies_).
    /// </summary>
    public static void ApplyResponseHeaders(ActiveStream request, IHeaderDictionary headers)
    {
        if (request.Context.Items[RingHashLoadBalancer.DownstreamSetCookiesKey] is List<string> cookies)
        {
            foreach (var cookie in cookies)
            {
                headers.Append("set-cookie", cookie);
            }
        }
        if (request.Frame.Destination is { } destination)
        {
            foreach (var operations in destination.ResponseHeaderOperations)
            {
                Apply(operations, headers);
            }
        }
    }

    /// <summary>Envoy's HeaderParser: the removals, then each header to add (overwrite or append).</summary>
    public static void Apply(Envoy.HeaderOperations operations, IHeaderDictionary headers)
    {
        foreach (var name in operations.ToRemove)
        {
            headers.Remove(name);
        }
        foreach (var option in operations.ToAdd)
        {
            if (option.Append)
            {
                headers.Append(option.Header.Key, option.Header.Value);
            }
            else
            {
                headers[option.Header.Key] = option.Header.Value;
            }
        }
    }
}
