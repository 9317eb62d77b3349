using System.Collections.Concurrent;
using System.Diagnostics;

namespace Demo.EgressGateway.Tests;

/// <summary>Records the spans the gateway's <c>Demo.EgressGateway</c> activity source stops, for the tests that read them.</summary>
public sealed class GatewaySpans : IDisposable
{
    private readonly ConcurrentQueue<Activity> _stopped = new();
    private readonly ActivityListener _listener;

    public GatewaySpans()
    {
        _listener = new ActivityListener
        {
            ShouldListenTo = source => source.Name == "Demo.EgressGateway",
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = _stopped.Enqueue,
        };
        ActivitySource.AddActivityListener(_listener);
    }

    /// <summary>
    /// Sends one request with a fresh trace id through <paramref name="gateway"/> and returns its status and the spans of
    /// that trace, once the sidecar stage's span has ended (a stage's span ends after its response has gone out; up to 5 s).
    /// </summary>
    public async Task<(int Status, IReadOnlyList<Activity> Spans)> TraceAsync(GatewayHost gateway, string url = GatewayHost.InMeshUrl)
    {
        var traceId = ActivityTraceId.CreateRandom();
        var (status, _) = await gateway.GetAsync(url, r => r.Headers.Add("traceparent", $"00-{traceId}-{ActivitySpanId.CreateRandom()}-01"));
        for (var deadline = DateTime.UtcNow.AddSeconds(5);
             !_stopped.Any(a => a.TraceId == traceId && (string?)a.GetTagItem("istio.stage") == "sidecar") && DateTime.UtcNow < deadline;)
        {
            await Task.Delay(20);
        }
        return (status, _stopped.Where(a => a.TraceId == traceId).ToList());
    }

    public void Dispose() => _listener.Dispose();
}
