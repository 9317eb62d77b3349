namespace Demo.CfApps;

internal static partial class Log
{
    [LoggerMessage(EventId = 1, Level = LogLevel.Information,
        Message = "404 unknown_route: Host '{Host}' is not a route of this app (https: {IsHttps})")]
    public static partial void UnknownRoute(ILogger logger, string host, bool isHttps);
}
