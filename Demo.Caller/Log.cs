namespace Demo.Caller;

internal static partial class Log
{
    [LoggerMessage(EventId = 1, Level = LogLevel.Information, Message = "Calling {ProxyUrl} every {Interval}")]
    public static partial void Started(ILogger logger, Uri proxyUrl, TimeSpan interval);

    /// <summary>One per tick, before the call: lets a test count ticks independently of the printed lines.</summary>
    [LoggerMessage(EventId = 2, Level = LogLevel.Debug, Message = "Tick {Sequence} at {TickTime}")]
    public static partial void Tick(ILogger logger, long sequence, string tickTime);
}
