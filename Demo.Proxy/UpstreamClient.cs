namespace Demo.Proxy;

/// <summary>Calls the configured external service. The request URI is fixed by configuration.</summary>
public sealed class UpstreamClient(HttpClient http)
{
    public async Task<UpstreamResponse> GetRootAsync(CancellationToken cancellationToken)
    {
        using var response = await http.GetAsync(new Uri("/", UriKind.Relative), HttpCompletionOption.ResponseContentRead, cancellationToken);
        var body = await response.Content.ReadAsStringAsync(cancellationToken);
        var contentType = response.Content.Headers.ContentType?.ToString() ?? "text/plain; charset=utf-8";
        return new UpstreamResponse((int)response.StatusCode, body, contentType);
    }

    public Uri Target => http.BaseAddress!;
}

public sealed record UpstreamResponse(int StatusCode, string Body, string ContentType);
