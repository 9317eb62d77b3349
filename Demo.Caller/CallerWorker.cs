using System.Diagnostics;
using System.Globalization;
using Microsoft.Extensions.Options;

namespace Demo.Caller;

/// <summary>
/// Calls the proxy once per tick and prints exactly one line per tick:
/// <c>&lt;timestamp&gt;\t&lt;body or error&gt;</c>. Calls run concurrently so that a slow answer never
/// delays or swallows the next tick.
/// </summary>
public sealed class CallerWorker(
    ProxyClient proxy,
    ICallerOutput output,
    CallerMetrics metrics,
    TimeProvider time,
    IOptions<CallerOptions> options,
    ILogger<CallerWorker> logger,
    ILogger<CallerTicks>? outcomes = null) : BackgroundService
{
    private readonly ILogger _outcomes = outcomes ?? (ILogger)Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance;

    public static readonly ActivitySource ActivitySource = new("Demo.Caller");

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var settings = options.Value;
        Log.Started(logger, settings.ProxyUrl, settings.Interval);
        using var timer = new PeriodicTimer(settings.Interval, time);
        var inFlight = new List<Task>();
        var sequence = 0L;
        try
        {
            do
            {
                inFlight.RemoveAll(t => t.IsCompleted);
                var tickTime = time.GetLocalNow();
                Log.Tick(logger, ++sequence, FormatTimestamp(tickTime));
                inFlight.Add(TickAsync(tickTime, settings.RequestTimeout, stoppingToken));
            }
            while (await timer.WaitForNextTickAsync(stoppingToken));
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
        await Task.WhenAll(inFlight);
    }

    public async Task TickAsync(DateTimeOffset tickTime, TimeSpan requestTimeout, CancellationToken stoppingToken)
    {
        using var activity = ActivitySource.StartActivity("caller tick");
        var started = time.GetTimestamp();
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
        timeout.CancelAfter(requestTimeout);
        string text;
        string outcome;
        string status;
        try
        {
            var (statusCode, body) = await proxy.GetAsync(timeout.Token);
            text = body.Length == 0 ? $"HTTP {statusCode}" : OneLine(body);
            outcome = Classify(statusCode, body);
            status = statusCode.ToString(CultureInfo.InvariantCulture);
        }
        catch (Exception ex) when (ex is HttpRequestException or OperationCanceledException)
        {
            if (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            text = ex is OperationCanceledException
                ? $"error: no answer within {requestTimeout.TotalSeconds:0.###} s"
                : $"error: {OneLine(ex.Message)}";
            outcome = "other";
            status = "error";
        }

        activity?.SetTag("caller.outcome", outcome);
        if (outcome == "other")
        {
            activity?.SetStatus(ActivityStatusCode.Error, text);
        }
        Log.TickOutcome(_outcomes, outcome switch { "v1" or "v2" => LogLevel.Information, "fault" => LogLevel.Warning, _ => LogLevel.Error },
            outcome, status, time.GetElapsedTime(started).TotalMilliseconds, text);
        metrics.Record(outcome, status);
        output.WriteLine(Format(tickTime, text));
    }

    public static string Format(DateTimeOffset timestamp, string text) => FormatTimestamp(timestamp) + "\t" + text;

    public static string FormatTimestamp(DateTimeOffset timestamp) =>
        timestamp.ToString("yyyy-MM-dd'T'HH:mm:sszzz", CultureInfo.InvariantCulture);

    public static string Classify(int statusCode, string body) => body switch
    {
        _ when statusCode == 200 && body.Contains("from CF v1 service", StringComparison.Ordinal) => "v1",
        _ when statusCode == 200 && body.Contains("from CF v2 service", StringComparison.Ordinal) => "v2",
        "fault filter abort" => "fault",
        _ => "other",
    };

    private static string OneLine(string text) =>
        text.ReplaceLineEndings(" ").Trim();
}

/// <summary>
/// Log category of the tick outcomes (<c>Demo.Caller.CallerTicks</c>): structured records for the dashboard's
/// Structured logs page; kept off the console, which shows the demo's one line per tick.
/// </summary>
public sealed class CallerTicks;
