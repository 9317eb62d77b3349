using Demo.CfApps;

namespace Demo.Services.Tests;

/// <summary>The CF app answers like Cloud Foundry's gorouter: only its routes get the app, any other Host 404 unknown_route.</summary>
public sealed class GorouterTests : IAsyncLifetime
{
    private const string Route = "hello-istio-v1.apps.example.com";
    private WebApplication _app = null!;
    private HttpClient _client = null!;

    public async ValueTask InitializeAsync()
    {
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions { EnvironmentName = "Test" });
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["CfApp:Version"] = "v1",
            ["CfApp:Routes:0"] = Route,
        });
        builder.AddServiceDefaults();
        builder.AddCfApp();
        _app = builder.Build();
        _app.UseCfApp();
        await _app.StartAsync();
        _client = new HttpClient { BaseAddress = new Uri(_app.Urls.First()) };
    }

    public async ValueTask DisposeAsync()
    {
        _client.Dispose();
        await _app.StopAsync();
        await _app.DisposeAsync();
    }

    private async Task<(int Status, string Body, string? RouterError)> GetAsync(string host, string path = "/")
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, path);
        request.Headers.Host = host;
        using var response = await _client.SendAsync(request);
        var error = response.Headers.TryGetValues("X-Cf-RouterError", out var values) ? values.Single() : null;
        return ((int)response.StatusCode, await response.Content.ReadAsStringAsync(), error);
    }

    [Theory]
    [InlineData(Route)]
    [InlineData("HELLO-ISTIO-V1.apps.example.com")]
    public async Task A_route_of_the_app_gets_the_app(string host) =>
        Assert.Equal((200, "Hello K8s, from CF v1 service!", (string?)null), await GetAsync(host));

    [Theory]
    [InlineData("hello.external")]
    [InlineData("hello-istio-v2.apps.example.com")]
    [InlineData("127.0.0.1")]
    public async Task Any_other_Host_gets_404_unknown_route(string host) =>
        Assert.Equal((404, $"404 Not Found: Requested route ('{host}') does not exist.\n", "unknown_route"), await GetAsync(host));

    [Fact]
    public async Task Health_answers_whatever_the_Host() =>
        Assert.Equal(200, (await GetAsync("anything.example.com", "/health")).Status);
}
