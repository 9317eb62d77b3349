using System.Collections.Concurrent;

namespace Demo.EgressGateway.Tests;

public sealed class CapturingLoggerProvider : ILoggerProvider
{
    private int _sidecarLines;
    private int _gatewayLines;

    public ConcurrentQueue<(string Category, LogLevel Level, string Message)> Entries { get; } = new();

    /// <summary>How many sidecar access-log lines have been written (counted as they come, not by a scan).</summary>
    public int SidecarAccessLines => Volatile.Read(ref _sidecarLines);

    /// <summary>How many lines the gateway's listener and stage have written (access-log, NR and handshake lines).</summary>
    public int GatewayLines => Volatile.Read(ref _gatewayLines);

    /// <summary>The newest sidecar access-log line, if any.</summary>
    public string? LastSidecarLine { get; private set; }

    public ILogger CreateLogger(string categoryName) => new CapturingLogger(categoryName, this);

    public IEnumerable<string> Messages(LogLevel minimum = LogLevel.Trace) =>
        Entries.Where(e => e.Level >= minimum).Select(e => e.Message);

    public void Dispose()
    {
    }

    private sealed class CapturingLogger(string category, CapturingLoggerProvider provider) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Information;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            var message = formatter(state, exception);
            provider.Entries.Enqueue((category, logLevel, message));
            if (message.StartsWith("[sidecar]", StringComparison.Ordinal))
            {
                provider.LastSidecarLine = message;
                Interlocked.Increment(ref provider._sidecarLines);
            }
            else if (message.StartsWith("[gateway]", StringComparison.Ordinal))
            {
                Interlocked.Increment(ref provider._gatewayLines);
            }
        }
    }
}
