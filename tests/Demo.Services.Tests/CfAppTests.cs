using Demo.CfApps;

namespace Demo.Services.Tests;

/// <summary>
/// The CF app as Cloud Foundry runs it: plain HTTP, answering whatever Host it gets — gorouter decides which requests
/// reach it (its 404 <c>unknown_route</c> is the CF router's, tested in Demo.CfRouter.Tests), the app does not check.
/// </summary>
public sealed class CfAppTests : IAsyncLifetime
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

    private async Task<(int Status, string Body, bool RouterError)> GetAsync(string host, string path = "/")
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, path);
        request.Headers.Host = host;
        using var response = await _client.SendAsync(request);
        return ((int)response.StatusCode, await response.Content.ReadAsStringAsync(), response.Headers.Contains("X-Cf-RouterError"));
    }

    [Theory]
    [InlineData(Route)]
    [InlineData("HELLO-ISTIO-V1.apps.example.com")]
    [InlineData("hello.external")]
    [InlineData("hello-istio-v2.apps.example.com")]
    [InlineData("127.0.0.1")]
    public async Task Any_Host_gets_the_app_and_no_router_error(string host) =>
        Assert.Equal((200, "Hello K8s, from CF v1 service!", false), await GetAsync(host));

    [Fact]
    public async Task Health_answers_whatever_the_Host() =>
        Assert.Equal(200, (await GetAsync("anything.example.com", "/health")).Status);
}
