using System.Collections.Concurrent;
using System.Diagnostics;

namespace Demo.Proxy.Tests;

/// <summary>Issue 10: the proxy writes one structured record per request with the upstream's result, in the request's trace.</summary>
public sealed class ProxyLogTests
{
    [Fact]
    public async Task Each_request_logs_the_upstream_status_and_time_as_structured_fields_with_the_requests_trace_id()
    {
        using var listener = new ActivityListener
        {
            ShouldListenTo = s => s.Name == "Microsoft.AspNetCore",
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
        };
        ActivitySource.AddActivityListener(listener);
        var logs = new RecordingLoggerProvider();
        await using var upstream = await RecordingUpstream.StartAsync();
        await using var proxy = await ProxyHost.StartAsync(new Dictionary<string, string?>
        {
            ["Upstream:BaseAddress"] = $"http://127.0.0.1:{upstream.Port}/",
        }, logs);
        using var client = new HttpClient { BaseAddress = proxy.Url };
        var traceId = ActivityTraceId.CreateRandom();
        using var request = new HttpRequestMessage(HttpMethod.Get, "/");
        request.Headers.Add("traceparent", $"00-{traceId}-{ActivitySpanId.CreateRandom()}-01");

        using var response = await client.SendAsync(request);

        Assert.Equal(RecordingUpstream.Body, await response.Content.ReadAsStringAsync());
        var record = Assert.Single(logs.Records, r => r.EventId == 2);
        Assert.Equal(LogLevel.Information, record.Level);
        Assert.Equal(traceId, record.TraceId);
        Assert.Equal(200, record.Fields["StatusCode"]);
        Assert.Equal(new Uri($"http://127.0.0.1:{upstream.Port}/"), record.Fields["Target"]);
        Assert.IsType<double>(record.Fields["ElapsedMs"]);
        Assert.Equal("", record.Fields["Detail"]);
    }
}

/// <summary>Keeps every record with its structured fields and the trace it was written in.</summary>
public sealed class RecordingLoggerProvider : ILoggerProvider
{
    public sealed record Record(string Category, LogLevel Level, int EventId, IReadOnlyDictionary<string, object?> Fields, ActivityTraceId TraceId, string Message);

    public ConcurrentQueue<Record> Records { get; } = new();

    public ILogger CreateLogger(string categoryName) => new Logger(this, categoryName);

    public void Dispose()
    {
    }

    private sealed class Logger(RecordingLoggerProvider provider, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            var fields = state is IEnumerable<KeyValuePair<string, object?>> pairs
                ? pairs.ToDictionary(p => p.Key, p => p.Value)
                : new Dictionary<string, object?>();
            provider.Records.Enqueue(new Record(category, logLevel, eventId.Id, fields, Activity.Current?.TraceId ?? default, formatter(state, exception)));
        }
    }
}
