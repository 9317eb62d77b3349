namespace Demo.CfRouter.Tests;

/// <summary>
/// Requests for one app instance and the instance identity an app receives, as gorouter handles them
/// (cloudfoundry/gorouter <c>handlers/lookup.go</c> <c>lookupHandler.ServeHTTP</c>, <c>lookup</c>,
/// <c>parseAppInstanceHeader</c>, <c>handleInvalidAppInstanceHeader</c>, <c>handleMissingRoute</c>;
/// <c>registry/registry.go</c> <c>LookupWithAppInstance</c>; <c>proxy/proxy.go</c> <c>setupProxyRequest</c>;
/// <c>proxy/round_tripper/proxy_round_tripper.go</c> <c>backendRoundTrip</c>, <c>setRequestXCfInstanceId</c>).
/// </summary>
public sealed class GorouterAppInstanceTests
{
    private const string Route = "hello-istio-v1.apps.example.com";
    private const string App = "6f1e2c3a-8b4d-4e5f-9a0b-1c2d3e4f5a6b";
    private const string OtherApp = "a0b1c2d3-e4f5-4a6b-8c7d-9e0f1a2b3c4d";

    private static HttpRequestMessage Get(string appInstance, string route = Route)
    {
        var request = new HttpRequestMessage(HttpMethod.Get, $"https://{route}/");
        request.Headers.TryAddWithoutValidation("X-CF-APP-INSTANCE", appInstance);
        return request;
    }

    // lookup.go lookup → registry.go LookupWithAppInstance: a pool of the one instance whose app and index match;
    // proxy.go setupProxyRequest deletes X-CF-APP-INSTANCE before the request goes on.
    [Fact]
    public async Task X_CF_APP_INSTANCE_sends_every_request_to_that_instance_and_is_not_passed_on()
    {
        await using var router = await RouterHost.StartAsync();
        await using var i0 = await AppInstance.StartAsync("v1-0");
        await using var i1 = await AppInstance.StartAsync("v1-1");
        await using var i2 = await AppInstance.StartAsync("v1-2");
        await using var other = await AppInstance.StartAsync("other-1");
        await router.RegisterAsync(Route, i0.Port, App, index: "0");
        await router.RegisterAsync(Route, i1.Port, App, index: "1");
        await router.RegisterAsync(Route, i2.Port, App, index: "2");
        await router.RegisterAsync(Route, other.Port, OtherApp, index: "1");

        for (var i = 0; i < 6; i++)
        {
            using var response = await router.Client.SendAsync(Get($"{App}:1"));
            Assert.Equal((200, "v1-1"), ((int)response.StatusCode, await response.Content.ReadAsStringAsync()));
        }
        using (var response = await router.Client.SendAsync(Get($"{OtherApp}:1")))
        {
            Assert.Equal("other-1", await response.Content.ReadAsStringAsync());
        }

        Assert.Equal(6, i1.Requests.Count);
        Assert.All(i1.Requests, headers => Assert.False(headers.ContainsKey("X-CF-APP-INSTANCE")));
        Assert.Empty(i0.Requests);
        Assert.Empty(i2.Requests);
        Assert.Single(other.Requests);
    }

    // lookup.go parseAppInstanceHeader: ^<lower-case hex 8-4-4-4-12>:<digits>$, else handleInvalidAppInstanceHeader
    // (400, X-Cf-RouterError invalid_cf_app_instance_header, Cache-Control no-cache, no-store; errorwriter's plain text).
    // The header is read before the route: an unknown route with a malformed header gets the same answer.
    [Theory]
    [InlineData("abc:0", Route)]
    [InlineData(App, Route)]
    [InlineData(App + ":", Route)]
    [InlineData(App + ":x", Route)]
    [InlineData(App + ":-1", Route)]
    [InlineData(App + ":0:1", Route)]
    [InlineData("6F1E2C3A-8B4D-4E5F-9A0B-1C2D3E4F5A6B:0", Route)]
    [InlineData("{6f1e2c3a-8b4d-4e5f-9a0b-1c2d3e4f5a6b}:0", Route)]
    [InlineData("6f1e2c3a8b4d4e5f9a0b1c2d3e4f5a6b:0", Route)]
    [InlineData("abc:0", "nobody-registered-this.apps.example.com")]
    public async Task A_malformed_X_CF_APP_INSTANCE_gets_400_invalid_cf_app_instance_header(string value, string route)
    {
        await using var router = await RouterHost.StartAsync();
        await using var instance = await AppInstance.StartAsync("v1-0");
        await router.RegisterAsync(Route, instance.Port, App, index: "0");

        using var response = await router.Client.SendAsync(Get(value, route));

        Assert.Equal(400, (int)response.StatusCode);
        Assert.Equal("400 Bad Request: Invalid X-CF-App-Instance Header\n", await response.Content.ReadAsStringAsync());
        Assert.Equal("invalid_cf_app_instance_header", response.Headers.GetValues("X-Cf-Routererror").Single());
        Assert.Equal("no-cache, no-store", string.Join(", ", response.Headers.NonValidated["Cache-Control"]));
        Assert.Equal("nosniff", response.Headers.GetValues("X-Content-Type-Options").Single());
        Assert.Equal("text/plain; charset=utf-8", response.Content.Headers.ContentType?.ToString());
        Assert.Empty(instance.Requests);
    }

    // lookup.go: LookupWithAppInstance found no such instance (or no such route), so handleMissingRoute, which with
    // X-CF-APP-INSTANCE set answers 400 — not 404 — naming index, guid and route, with X-Cf-RouterError unknown_route.
    [Theory]
    [InlineData(App + ":7", Route)]
    [InlineData(App + ":00", Route)]
    [InlineData(OtherApp + ":0", Route)]
    [InlineData(App + ":0", "nobody-registered-this.apps.example.com")]
    public async Task An_X_CF_APP_INSTANCE_naming_no_instance_of_the_route_gets_400_unknown_route(string value, string route)
    {
        await using var router = await RouterHost.StartAsync();
        await using var instance = await AppInstance.StartAsync("v1-0");
        await router.RegisterAsync(Route, instance.Port, App, index: "0");

        using var response = await router.Client.SendAsync(Get(value, route));

        var (guid, index) = (value.Split(':')[0], value.Split(':')[1]);
        Assert.Equal(400, (int)response.StatusCode);
        Assert.Equal($"400 Bad Request: Requested instance ('{index}') with guid ('{guid}') does not exist for route ('{route}')\n",
            await response.Content.ReadAsStringAsync());
        Assert.Equal("unknown_route", response.Headers.GetValues("X-Cf-Routererror").Single());
        Assert.Equal("no-cache, no-store", string.Join(", ", response.Headers.NonValidated["Cache-Control"]));
        Assert.Empty(instance.Requests);
    }

    // registry.go LookupWithAppInstance builds a pool of one endpoint with RetryAfterFailure 0, and
    // proxy_round_tripper.go RoundTrip stops at attempt 2 (> 1 endpoint, already tried): one attempt, even for a GET
    // that gorouter would otherwise retry, and even for a dial error; the route's other instances are never tried.
    [Fact]
    public async Task A_request_for_one_instance_is_never_retried_on_another()
    {
        await using var router = await RouterHost.StartAsync();
        await using var closing = TcpInstance.Start("v1-0", TcpInstanceBehaviour.CloseWithoutAnswer);
        await using var live = await AppInstance.StartAsync("v1-1");
        var dead = RouterHost.FreePort();
        await router.RegisterAsync(Route, closing.Port, App, index: "0");
        await router.RegisterAsync(Route, live.Port, App, index: "1");
        await router.RegisterAsync(Route, dead, App, index: "2");

        using var eof = await router.Client.SendAsync(Get($"{App}:0"));
        using var refused = await router.Client.SendAsync(Get($"{App}:2"));

        Assert.Equal(502, (int)eof.StatusCode);
        Assert.Equal("endpoint_failure (EOF)", eof.Headers.GetValues("X-Cf-Routererror").Single());
        Assert.Single(closing.Requests);
        Assert.Equal(502, (int)refused.StatusCode);
        Assert.Equal($"endpoint_failure (dial tcp 127.0.0.1:{dead}: connect: connection refused)", refused.Headers.GetValues("X-Cf-Routererror").Single());
        Assert.Empty(live.Requests);
        var access = await router.WaitForAccessLogAsync(2);
        Assert.All(access, line => Assert.Contains(" attempts:1 ", line, StringComparison.Ordinal));
    }

    // proxy_round_tripper.go backendRoundTrip: request.Header.Set for X-CF-ApplicationID (the registration's app),
    // X-CF-InstanceIndex (private_instance_index) and, in setRequestXCfInstanceId, X-CF-InstanceID
    // (private_instance_id, or the endpoint's host:port when that is empty). Set replaces whatever the client sent.
    [Fact]
    public async Task The_app_gets_its_own_instance_identity_headers_never_the_clients()
    {
        await using var router = await RouterHost.StartAsync();
        await using var named = await AppInstance.StartAsync("v1-3");
        await using var anonymous = await AppInstance.StartAsync("v2-0");
        await router.RegisterAsync(Route, named.Port, App, index: "3", instanceId: "instance-3-guid");
        await router.RegisterAsync("hello-istio-v2.apps.example.com", anonymous.Port, app: "", index: "", instanceId: "");

        foreach (var route in new[] { Route, "hello-istio-v2.apps.example.com" })
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, $"https://{route}/");
            request.Headers.TryAddWithoutValidation("X-CF-ApplicationID", "spoofed-app");
            request.Headers.TryAddWithoutValidation("x-cf-instanceindex", "99");
            request.Headers.TryAddWithoutValidation("X-CF-InstanceID", ["spoofed-instance", "another"]);
            using var response = await router.Client.SendAsync(request);
            Assert.Equal(200, (int)response.StatusCode);
        }

        var got = Assert.Single(named.Requests);
        Assert.Equal(App, got["X-CF-ApplicationID"]);
        Assert.Equal("3", got["X-CF-InstanceIndex"]);
        Assert.Equal("instance-3-guid", got["X-CF-InstanceID"]);
        var bare = Assert.Single(anonymous.Requests);
        Assert.Equal("", bare["X-CF-ApplicationID"]);
        Assert.Equal("", bare["X-CF-InstanceIndex"]);
        Assert.Equal($"127.0.0.1:{anonymous.Port}", bare["X-CF-InstanceID"]);
    }
}
