using System.Diagnostics.Metrics;

namespace Demo.Caller;

public sealed class CallerMetrics
{
    public const string MeterName = "Demo.Caller";
    private readonly Counter<long> _outcomes;

    public CallerMetrics(IMeterFactory meterFactory)
    {
        var meter = meterFactory.Create(MeterName);
        _outcomes = meter.CreateCounter<long>("caller.outcomes", "{call}",
            "Calls to the proxy by outcome: v1, v2, fault (fault filter abort) or other.");
    }

    public void Record(string outcome, string statusCode) =>
        _outcomes.Add(1, new KeyValuePair<string, object?>("outcome", outcome),
            new KeyValuePair<string, object?>("http.response.status_code", statusCode));
}
