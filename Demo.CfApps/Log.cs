namespace Demo.CfApps;

internal static partial class Log
{
    /// <summary>One line per request (health probes excepted), with the router's request id and the trace.</summary>
    [LoggerMessage(EventId = 2, Level = LogLevel.Information,
        Message = "{Host} \"{Method} {Path}\" {StatusCode} vcap_request_id:\"{VcapRequestId}\" x_forwarded_for:\"{XForwardedFor}\" x_forwarded_proto:\"{XForwardedProto}\" x_request_start:\"{XRequestStart}\" traceid:\"{TraceId}\" spanid:\"{SpanId}\"")]
    public static partial void Request(ILogger logger, string host, string method, string path, int statusCode, string vcapRequestId,
        string xForwardedFor, string xForwardedProto, string xRequestStart, string traceId, string spanId);

    [LoggerMessage(EventId = 3, Level = LogLevel.Information, Message = "Route {Action}: [{Routes}] -> 127.0.0.1:{Port} (instance index {InstanceIndex})")]
    public static partial void RouteRegistration(ILogger logger, string action, string routes, int port, string instanceIndex);

    [LoggerMessage(EventId = 4, Level = LogLevel.Warning, Message = "Route {Action} at {RouterUrl} failed (retrying every interval): {Reason}")]
    public static partial void RouteRegistrationFailed(ILogger logger, string action, Uri routerUrl, string reason);

    [LoggerMessage(EventId = 5, Level = LogLevel.Error, Message = "Start-up health check ({Check} on port {Port}) did not pass within {TimeoutSeconds} s: the instance failed to start and crashes, as Diego fails it")]
    public static partial void StartupHealthCheckFailed(ILogger logger, string check, int port, double timeoutSeconds);
}
