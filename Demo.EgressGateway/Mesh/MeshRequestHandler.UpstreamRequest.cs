using Yarp.ReverseProxy.Forwarder;

namespace Demo.EgressGateway.Mesh;

// MeshRequestHandler, continued: the upstream request of one try (Envoy's UpstreamRequest: the forward over the cluster's pool, its span, how a reset or a response ends it).
public sealed partial class MeshRequestHandler
{
    // Envoy's UpstreamRequest with tracing.spawn_upstream_span: a child span of the proxy's own for this upstream
    // request, whose context the upstream receives; it ends with the request, reset or not.
    private async ValueTask<AttemptOutcome> ForwardInUpstreamSpanAsync(ActiveStream request, ClusterRuntime cluster, HostRuntime host, CancellationToken cancellationToken)
    {
        var span = GatewayTelemetry.StartUpstreamSpan(cluster.Name, request.Frame.Attempts);
        var outcome = default(AttemptOutcome);
        try
        {
            outcome = await ForwardAsync(request, cluster, host, cancellationToken);
            return outcome;
        }
        finally
        {
            GatewayTelemetry.UpstreamSpanCompleted(span, cluster.Name, host.Transport is { } transport ? $"{transport.Host}:{transport.Port}" : null,
                outcome.Kind == OutcomeKind.Response ? outcome.Status : 0, outcome.Flags);
        }
    }

    private async ValueTask<AttemptOutcome> ForwardAsync(ActiveStream request, ClusterRuntime cluster, HostRuntime host, CancellationToken cancellationToken)
    {
        var context = request.Context;
        var transformer = request.Transformer;
        var transport = host.Transport!;
        if (transport.SecretNotSupplied)
        {
            // envoy ssl_socket.cc: without its SDS secret the cluster's transport socket is a NotReadySslSocket, which
            // closes every connection with this failure reason — a connection failure (UF), nothing reaches the server.
            Log.UpstreamConnectFailed(logger, cluster.Name, SecretNotSuppliedReason);
            return AttemptOutcome.Failure(OutcomeKind.ConnectFailure, ResponseFlags.UpstreamConnectionFailure,
                $"reset reason: remote connection failure, transport failure reason: {SecretNotSuppliedReason}");
        }
        // auto_sni (Istio sets it when the DestinationRule has no sni): the SNI is the request's Host as Envoy's router
        // parses it (Http::Utility::parseAuthority), none for an IP literal; with no subjectAltNames either,
        // auto_san_validation checks the certificate against that host too.
        var client = transport.Tls && transport.Sni is null
            ? host.ClientForAuthority(clients, Envoy.HttpUtility.ParseAuthority(request.Authority))
            : host.Client(clients);
        var requestConfig = cluster.Config.Http2 || (cluster.Config.UseDownstreamProtocol && HttpProtocol.IsHttp2(context.Request.Protocol))
            ? Http2RequestConfig
            : RequestConfig;
        var error = await forwarder.SendAsync(context, host.DestinationPrefix, client, requestConfig, transformer, cancellationToken);
        if (error == ForwarderError.None)
        {
            return transformer.Outcome;
        }
        cancellationToken.ThrowIfCancellationRequested();

        var exception = context.Features.Get<IForwarderErrorFeature>()?.Exception;
        if (context.Response.HasStarted)
        {
            // Too late to answer differently: the client sees a truncated response, as with Envoy. An HTTP/1.1
            // upstream can only end a response by closing its connection: Envoy's flag is UC.
            request.Frame.Flags |= ResponseFlags.UpstreamConnectionTermination;
            return new AttemptOutcome(OutcomeKind.Response, context.Response.StatusCode, Committed: true, ResponseFlags.UpstreamConnectionTermination);
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
                $"reset reason: remote connection failure, transport failure reason: {reason}");
        }
        Log.UpstreamReset(logger, cluster.Name, error.ToString(), reason);
        // HTTP/1.1 has no stream reset: an upstream that goes away before its response is a connection
        // termination (Envoy: UC, "reset reason: connection termination"); UR is HTTP/2's RST_STREAM.
        return AttemptOutcome.Failure(OutcomeKind.Reset, ResponseFlags.UpstreamConnectionTermination, "reset reason: connection termination");
    }
}
