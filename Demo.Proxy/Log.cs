namespace Demo.Proxy;

internal static partial class Log
{
    [LoggerMessage(EventId = 1, Level = LogLevel.Warning, Message = "Upstream {Target} unreachable: {ErrorType}: {ErrorMessage}")]
    public static partial void UpstreamUnreachable(ILogger logger, Uri target, string errorType, string errorMessage);
}
