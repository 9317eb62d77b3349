namespace Demo.Caller;

internal static partial class Log
{
    [LoggerMessage(EventId = 1, Level = LogLevel.Information, Message = "Calling {ProxyUrl} every {Interval}")]
    public static partial void Started(ILogger logger, Uri proxyUrl, TimeSpan interval);

    /// <summary>One per tick, before the call: lets a test count ticks independently of the printed lines.</summary>
    [LoggerMessage(EventId = 2, Level = LogLevel.Debug, Message = "Tick {Sequence} at {TickTime}")]
    public static partial void Tick(ILogger logger, long sequence, string tickTime);

    /// <summary>
    /// One per tick, after the answer: the tick's outcome as a structured record (the console keeps its demo line).
    /// Written inside the tick's span, so the record carries its trace id. Level: Information for v1/v2,
    /// Warning for the injected fault, Error for anything else.
    /// </summary>
    [LoggerMessage(EventId = 3, Message = "Tick answered {Outcome}: {StatusCode} in {ElapsedMs:0.0} ms: {Answer}")]
    public static partial void TickOutcome(ILogger logger, LogLevel level, string outcome, string statusCode, double elapsedMs, string answer);
}
