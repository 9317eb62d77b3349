using System.Net.Sockets;
using Microsoft.AspNetCore.Http.Features;
using Yarp.ReverseProxy.Forwarder;

namespace Demo.CfRouter;

/// <summary>
/// What gorouter makes of an attempt on an instance that got no response (cloudfoundry/gorouter
/// <c>proxy/round_tripper/proxy_round_tripper.go</c> <c>roundTripper.RoundTrip</c> and <c>isRetriable</c>,
/// <c>proxy/fails/classifier_group.go</c>, <c>proxy/fails/basic_classifiers.go</c>).
/// </summary>
/// <param name="Error">
/// The transport's error as Go prints it, which gorouter puts in <c>X-Cf-Routererror: endpoint_failure (&lt;error&gt;)</c>
/// and so in the access log's <c>x_cf_routererror</c> (never in the body): <c>EOF</c>,
/// <c>read tcp 127.0.0.1:41234-&gt;127.0.0.1:5001: read: connection reset by peer</c>,
/// <c>dial tcp 127.0.0.1:5001: connect: connection refused</c>.
/// </param>
/// <param name="Classified">
/// The error as <c>isRetriable</c> rewrites it for the <c>backend-endpoint-failed</c> log line and the classifiers:
/// <c>EOF (via idempotent request)</c> for an idempotent request, <c>incomplete request (&lt;error&gt;)</c> when no
/// connection was made.
/// </param>
/// <param name="Retriable">gorouter's <c>RetriableClassifiers</c>: <c>Dial</c>, <c>IncompleteRequest</c>, <c>IdempotentRequestEOF</c>.</param>
/// <param name="Failable">gorouter's <c>FailableClassifiers</c>: <c>Dial</c>, <c>ConnectionResetOnRead</c>; the instance is then skipped for a while.</param>
public readonly record struct BackendFailure(string Error, string Classified, bool Retriable, bool Failable)
{
    /// <summary>gorouter's <c>NoEndpointsAvailable</c>: the route lost its instances between the lookup and the pick.</summary>
    public const string NoEndpointsAvailable = "No endpoints available";

    public static BackendFailure Of(ForwarderError error, Exception? exception, HttpRequest request, string address)
    {
        if (Find<BackendConnectionException>(exception) is { } connection)
        {
            if (connection.EndOfStream && IsIdempotent(request))
            {
                return new(connection.Message, "EOF (via idempotent request)", Retriable: true, Failable: false);
            }
            return new(connection.Message, connection.Message, Retriable: false,
                Failable: connection.SocketError == SocketError.ConnectionReset);
        }

        // No connection was made: a net.OpError with Op "dial", which is Dial and, the trace having no connection,
        // also IncompleteRequest.
        var dial = exception is HttpRequestException { HttpRequestError: HttpRequestError.ConnectionError }
            ? DialError(Find<SocketException>(exception)?.SocketErrorCode, address)
            : error != ForwarderError.RequestTimedOut && Find<TimeoutException>(exception) is not null ? $"dial tcp {address}: i/o timeout" : null;
        if (dial is not null)
        {
            return new(dial, $"incomplete request ({dial})", Retriable: true, Failable: true);
        }

        // The response had begun when the connection broke: Go's transport wraps the read error.
        if (Find<BackendReadIOException>(exception) is { } broken)
        {
            var text = "net/http: HTTP/1.x transport connection broken: " + broken.Message;
            return new(text, text, Retriable: false, Failable: broken.SocketError == SocketError.ConnectionReset);
        }
        if (exception is HttpRequestException { HttpRequestError: HttpRequestError.ResponseEnded })
        {
            const string text = "net/http: HTTP/1.x transport connection broken: unexpected EOF";
            return new(text, text, Retriable: false, Failable: false);
        }

        // gorouter's endpoint_timeout is a context deadline on the round trip.
        var other = error == ForwarderError.RequestTimedOut ? "context deadline exceeded" : $"{error} ({exception?.GetType().Name ?? "no exception"})";
        return new(other, other, Retriable: false, Failable: false);
    }

    /// <summary>
    /// gorouter's <c>isIdempotent</c> (which follows Go's <c>Request.isReplayable</c>): no request body — gorouter's
    /// reverse proxy sends none when the Content-Length is 0, and any other body makes a request non-idempotent — and
    /// the method is GET, HEAD, OPTIONS or TRACE (exactly, case-sensitive), or the request has a non-empty
    /// <c>Idempotency-Key</c> or <c>X-Idempotency-Key</c>.
    /// </summary>
    public static bool IsIdempotent(HttpRequest request) =>
        !HasBody(request) && (IsReplayableMethod(request.Method)
            || request.Headers["Idempotency-Key"].FirstOrDefault() is { Length: > 0 }
            || request.Headers["X-Idempotency-Key"].FirstOrDefault() is { Length: > 0 });

    /// <summary>Go's <c>Request.isReplayable</c>, as its transport decides a retry on a new connection: like <see cref="IsIdempotent"/>, but the key headers need only be present.</summary>
    public static bool IsReplayable(HttpRequest request) =>
        !HasBody(request) && (IsReplayableMethod(request.Method)
            || request.Headers.ContainsKey("Idempotency-Key") || request.Headers.ContainsKey("X-Idempotency-Key"));

    private static bool IsReplayableMethod(string method) => method is "GET" or "HEAD" or "OPTIONS" or "TRACE";

    // Go's server reports ContentLength 0 for a request without Content-Length and Transfer-Encoding or with
    // Content-Length: 0, exactly when Kestrel says it cannot have a body.
    private static bool HasBody(HttpRequest request) =>
        request.HttpContext.Features.Get<IHttpRequestBodyDetectionFeature>()?.CanHaveBody ?? true;

    private static string DialError(SocketError? error, string address) => error switch
    {
        null or SocketError.TimedOut => $"dial tcp {address}: i/o timeout",
        { } socketError => $"dial tcp {address}: connect: {BackendConnection.GoErrno(socketError)}",
    };

    private static T? Find<T>(Exception? exception) where T : Exception
    {
        for (var current = exception; current is not null; current = current.InnerException)
        {
            if (current is T found)
            {
                return found;
            }
        }
        return null;
    }
}
