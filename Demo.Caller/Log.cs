namespace Demo.Caller;

internal static partial class Log
{
    [LoggerMessage(EventId = 1, Level = LogLevel.Information, Message = "Calling {ProxyUrl} every {Interval}")]
    public static partial void Started(ILogger logger, Uri proxyUrl, TimeSpan interval);
}
