namespace Demo.CfRouter;

internal static partial class Log
{
    /// <summary>gorouter's <c>WriteDashOrStringValue</c>: an empty field is logged as <c>-</c>.</summary>
    public static string OrDash(this string? value) => string.IsNullOrEmpty(value) ? "-" : value;

    /// <summary>
    /// One line per request, with the fields of gorouter's access log record (<c>accesslog/schema/access_log_record.go</c>)
    /// that matter here: <paramref name="startedAt"/> is when the router received the request, in gorouter's
    /// <c>[2006-01-02T15:04:05.000000000Z]</c> form (UTC); an empty value is written <c>-</c>, as gorouter does.
    /// </summary>
    [LoggerMessage(EventId = 1, Level = LogLevel.Information,
        Message = "{Host} - [{StartedAt}] \"{Method} {Path} {Protocol}\" {StatusCode} x_forwarded_for:\"{XForwardedFor}\" x_forwarded_proto:\"{XForwardedProto}\" vcap_request_id:\"{VcapRequestId}\" response_time:{ResponseTime:0.000000} app_id:\"{AppId}\" app_index:\"{AppIndex}\" backend:\"{Backend}\" attempts:{Attempts} x_cf_routererror:\"{RouterError}\" traceid:\"{TraceId}\" spanid:\"{SpanId}\"")]
    public static partial void Access(ILogger logger, string host, string startedAt, string method, string path, string protocol, int statusCode,
        string xForwardedFor, string xForwardedProto, string vcapRequestId, double responseTime, string appId, string appIndex,
        string backend, int attempts, string routerError, string traceId, string spanId);

    [LoggerMessage(EventId = 2, Level = LogLevel.Warning,
        Message = "backend-endpoint-failed: route {Route} instance {Backend} (app {AppId}, index {AppIndex}) attempt {Attempt}: {Error}; retriable: {Retriable}")]
    public static partial void BackendEndpointFailed(ILogger logger, string route, string backend, string appId, string appIndex,
        int attempt, string error, bool retriable);

    [LoggerMessage(EventId = 3, Level = LogLevel.Information, Message = "Registered {Backend} for route {Route} (app {AppId}, index {AppIndex})")]
    public static partial void EndpointRegistered(ILogger logger, string route, string backend, string appId, string appIndex);

    [LoggerMessage(EventId = 4, Level = LogLevel.Information, Message = "Unregistered {Backend} from route {Route} (app {AppId}, index {AppIndex})")]
    public static partial void EndpointUnregistered(ILogger logger, string route, string backend, string appId, string appIndex);

    [LoggerMessage(EventId = 5, Level = LogLevel.Warning,
        Message = "Pruned stale {Backend} from route {Route} (app {AppId}, index {AppIndex}): not renewed within {StaleThreshold}")]
    public static partial void EndpointPruned(ILogger logger, string route, string backend, string appId, string appIndex, TimeSpan staleThreshold);

    [LoggerMessage(EventId = 6, Level = LogLevel.Information,
        Message = "Serving the apps domain on https://localhost:{HttpsPort} with certificate SANs [{Sans}]; status and route registration on http://localhost:{StatusPort}")]
    public static partial void Serving(ILogger logger, int httpsPort, string sans, int statusPort);
}
