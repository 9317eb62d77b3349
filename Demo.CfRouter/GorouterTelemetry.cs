using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace Demo.CfRouter;

/// <summary>The router's span (one per request, under ASP.NET Core's server span) and its request counter.</summary>
public sealed class GorouterTelemetry
{
    public const string Name = "Demo.CfRouter";
    public static readonly ActivitySource ActivitySource = new(Name);
    private readonly Counter<long> _requests;

    public GorouterTelemetry(IMeterFactory meterFactory)
    {
        var meter = meterFactory.Create(Name);
        _requests = meter.CreateCounter<long>("cf_router.requests", "{request}",
            "Requests by route, status code and X-Cf-Routererror (empty when the app answered).");
    }

    public void Record(string route, int statusCode, string routerError) =>
        _requests.Add(1,
            new KeyValuePair<string, object?>("cf.route", route),
            new KeyValuePair<string, object?>("http.response.status_code", statusCode),
            new KeyValuePair<string, object?>("cf.router_error", routerError));
}
