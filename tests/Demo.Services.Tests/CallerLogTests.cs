using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using Demo.Caller;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace Demo.Services.Tests;

/// <summary>Issue 10: each caller tick writes one structured record of its outcome, in the tick's trace, off the console.</summary>
public sealed class CallerLogTests
{
    [Fact]
    public async Task Each_tick_logs_its_outcome_status_and_answer_as_structured_fields_in_the_ticks_trace()
    {
        var spans = new ConcurrentQueue<Activity>();
        using var listener = new ActivityListener
        {
            ShouldListenTo = s => s.Name == "Demo.Caller",
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = spans.Enqueue,
        };
        ActivitySource.AddActivityListener(listener);
        var answers = new Queue<HttpResponseMessage>(
        [
            new HttpResponseMessage(HttpStatusCode.OK) { Content = new StringContent("Hello K8s, from CF v1 service!") },
            new HttpResponseMessage((HttpStatusCode)418) { Content = new StringContent("fault filter abort") },
            new HttpResponseMessage(HttpStatusCode.ServiceUnavailable) { Content = new StringContent("no healthy upstream") },
        ]);
        var ticks = new TickLogger();
        using var services = new ServiceCollection().AddMetrics().BuildServiceProvider();
        var worker = new CallerWorker(
            new ProxyClient(new HttpClient(new Answers(answers)) { BaseAddress = new Uri("http://proxy/") }),
            new Discard(),
            new CallerMetrics(services.GetRequiredService<System.Diagnostics.Metrics.IMeterFactory>()),
            TimeProvider.System,
            Options.Create(new CallerOptions()),
            NullLogger<CallerWorker>.Instance,
            ticks);

        for (var i = 0; i < 3; i++)
        {
            await worker.TickAsync(DateTimeOffset.Now, TimeSpan.FromSeconds(5), CancellationToken.None);
        }

        var records = ticks.Records.ToList();
        Assert.Equal(3, records.Count);
        Assert.Equal([LogLevel.Information, LogLevel.Warning, LogLevel.Error], records.Select(r => r.Level));
        Assert.Equal(["v1", "fault", "other"], records.Select(r => r.Fields["Outcome"]));
        Assert.Equal(["200", "418", "503"], records.Select(r => r.Fields["StatusCode"]));
        Assert.Equal("no healthy upstream", records[2].Fields["Answer"]);
        Assert.All(records, r => Assert.IsType<double>(r.Fields["ElapsedMs"]));
        // Each record is in its own tick's trace. (The listener hears every "caller tick" in the process, including
        // other tests' running beside this one, so the spans are found by the records' trace ids.)
        var tickSpans = spans.Where(s => s.DisplayName == "caller tick").GroupBy(s => s.TraceId).ToDictionary(g => g.Key, g => g.Last());
        Assert.Equal(3, records.Select(r => r.TraceId).Distinct().Count());
        Assert.All(records, r => Assert.True(tickSpans.ContainsKey(r.TraceId), $"no caller tick span in trace {r.TraceId}"));
        Assert.Equal(ActivityStatusCode.Error, tickSpans[records[2].TraceId].Status);
    }

    [Fact]
    public void The_console_provider_leaves_tick_records_and_informational_records_out_so_the_console_keeps_one_demo_line_per_tick()
    {
        // As Aspire runs the caller: its appsettings.json, plus the LOGGING__CONSOLE__FORMATTERNAME it sets (which keys
        // a "Console" section "CONSOLE" — a section the console provider's filter rules then never match).
        var settings = new ConfigurationBuilder()
            .AddJsonFile(Path.Combine(RepositoryRoot(), "Demo.Caller", "appsettings.json"), optional: false)
            .AddInMemoryCollection(new Dictionary<string, string?> { ["LOGGING:CONSOLE:FORMATTERNAME"] = "simple" })
            .Build();
        using var console = LoggerFactory.Create(logging => logging.AddConfiguration(settings.GetSection("Logging")).AddConsole());

        Assert.False(console.CreateLogger<CallerTicks>().IsEnabled(LogLevel.Critical));
        Assert.False(console.CreateLogger("Microsoft.Hosting.Lifetime").IsEnabled(LogLevel.Information));
        Assert.True(console.CreateLogger("Microsoft.Hosting.Lifetime").IsEnabled(LogLevel.Warning));
        Assert.False(console.CreateLogger<CallerWorker>().IsEnabled(LogLevel.Information));
        Assert.True(console.CreateLogger<CallerWorker>().IsEnabled(LogLevel.Warning));
    }

    private static string RepositoryRoot()
    {
        var directory = new DirectoryInfo(AppContext.BaseDirectory);
        while (!File.Exists(Path.Combine(directory!.FullName, "Demo.sln")))
        {
            directory = directory.Parent;
        }
        return directory.FullName;
    }

    private sealed record Record(LogLevel Level, IReadOnlyDictionary<string, object?> Fields, ActivityTraceId TraceId);

    private sealed class TickLogger : ILogger<CallerTicks>
    {
        public ConcurrentQueue<Record> Records { get; } = new();

        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            Records.Enqueue(new Record(logLevel,
                (state as IEnumerable<KeyValuePair<string, object?>>)?.ToDictionary(p => p.Key, p => p.Value) ?? [],
                Activity.Current?.TraceId ?? default));
    }

    private sealed class Answers(Queue<HttpResponseMessage> answers) : HttpMessageHandler
    {
        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken) =>
            Task.FromResult(answers.Dequeue());
    }

    private sealed class Discard : ICallerOutput
    {
        public void WriteLine(string line)
        {
        }
    }
}
