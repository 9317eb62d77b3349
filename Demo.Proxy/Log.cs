namespace Demo.Proxy;

internal static partial class Log
{
    [LoggerMessage(EventId = 1, Level = LogLevel.Warning, Message = "Upstream {Target} unreachable: {ErrorType}: {ErrorMessage}")]
    public static partial void UpstreamUnreachable(ILogger logger, Uri target, string errorType, string errorMessage);

    /// <summary>
    /// One per request: what the upstream (through the mesh) answered. Written inside the request's span, so the
    /// record carries its trace id. Information for 2xx/3xx, Warning otherwise; <c>Detail</c> is the start of a
    /// non-2xx body (Envoy's local replies, e.g. <c>fault filter abort</c>), else empty.
    /// </summary>
    [LoggerMessage(EventId = 2, Message = "Upstream {Target} answered {StatusCode} in {ElapsedMs:0.0} ms {Detail}")]
    public static partial void UpstreamAnswered(ILogger logger, LogLevel level, Uri target, int statusCode, double elapsedMs, string detail);
}
