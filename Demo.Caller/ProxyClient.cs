namespace Demo.Caller;

public sealed class ProxyClient(HttpClient http)
{
    public async Task<(int StatusCode, string Body)> GetAsync(CancellationToken cancellationToken)
    {
        using var response = await http.GetAsync(new Uri("/", UriKind.Relative), cancellationToken);
        return ((int)response.StatusCode, await response.Content.ReadAsStringAsync(cancellationToken));
    }
}
