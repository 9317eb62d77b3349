using Microsoft.AspNetCore.Http.HttpResults;

namespace Demo.Proxy;

public static class ProxyApi
{
    public static IEndpointRouteBuilder MapProxyApi(this IEndpointRouteBuilder app)
    {
        app.MapGroup("/").MapGet("/", GetFromUpstream);
        return app;
    }

    /// <summary>Returns the external service's status and body unchanged; 502 problem details when unreachable.</summary>
    public static async Task<Results<ContentHttpResult, ProblemHttpResult>> GetFromUpstream(
        UpstreamClient upstream, ILogger<UpstreamClient> logger, CancellationToken cancellationToken)
    {
        var started = System.Diagnostics.Stopwatch.GetTimestamp();
        try
        {
            var response = await upstream.GetRootAsync(cancellationToken);
            var success = response.StatusCode is >= 200 and < 400;
            Log.UpstreamAnswered(logger, success ? LogLevel.Information : LogLevel.Warning, upstream.Target, response.StatusCode,
                System.Diagnostics.Stopwatch.GetElapsedTime(started).TotalMilliseconds, success ? "" : Detail(response.Body));
            return TypedResults.Content(response.Body, response.ContentType, statusCode: response.StatusCode);
        }
        catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException && !cancellationToken.IsCancellationRequested)
        {
            Log.UpstreamUnreachable(logger, upstream.Target, ex.GetType().Name, ex.Message);
            return TypedResults.Problem(
                statusCode: StatusCodes.Status502BadGateway,
                title: "Upstream unreachable",
                detail: $"{upstream.Target} could not be reached: {ex.Message}");
        }
    }

    private static string Detail(string body)
    {
        var line = body.ReplaceLineEndings(" ").Trim();
        return line.Length <= 200 ? line : line[..200] + "…";
    }
}
