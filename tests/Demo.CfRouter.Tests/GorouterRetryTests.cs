using System.Text;

namespace Demo.CfRouter.Tests;

/// <summary>
/// What the router does when an instance gives no response, as gorouter does (cloudfoundry/gorouter
/// <c>proxy/round_tripper/proxy_round_tripper.go</c> <c>roundTripper.RoundTrip</c>, <c>isRetriable</c>, <c>isIdempotent</c>;
/// <c>proxy/fails/classifier_group.go</c> <c>RetriableClassifiers</c>, <c>FailableClassifiers</c>;
/// <c>proxy/fails/basic_classifiers.go</c>; <c>route/roundrobin.go</c> <c>RoundRobin.next</c>; <c>route/pool.go</c>
/// <c>NextIndex</c>, <c>EndpointFailed</c>; <c>proxy/round_tripper/error_handler.go</c> <c>HandleError</c>), and the
/// error texts as Go's transport writes them.
/// </summary>
public sealed class GorouterRetryTests
{
    private const string Route = "hello-istio-v1.apps.example.com";

    /// <summary>
    /// Sends requests (at most two: a route of two instances starts each request one instance further) until one
    /// reaches <paramref name="target"/>; returns that response and how many requests <paramref name="live"/> got meanwhile.
    /// </summary>
    private static async Task<(HttpResponseMessage Response, int LiveRequests)> SendUntilItReachesAsync(RouterHost router,
        Func<HttpRequestMessage> request, TcpInstance target, AppInstance live)
    {
        for (var i = 0; ; i++)
        {
            var (targetBefore, liveBefore) = (target.Requests.Count, live.Requests.Count);
            var response = await router.Client.SendAsync(request());
            await response.Content.LoadIntoBufferAsync();
            if (target.Requests.Count > targetBefore)
            {
                Assert.Equal(targetBefore + 1, target.Requests.Count);
                return (response, live.Requests.Count - liveBefore);
            }
            Assert.True(i == 0, "two requests in a row started at the same instance");
            response.Dispose();
        }
    }

    // RoundTrip: the EOF of an idempotent request is IdempotentRequestEOF (retriable), so the next attempt takes the
    // iterator's next instance. EOF is not in FailableClassifiers: the instance is not marked failed and keeps its
    // turn. pool.go NextIndex moves one instance per request (not per attempt), so with two instances the closing one
    // is first on every other request.
    [Fact]
    public async Task A_GET_the_instance_closes_without_answering_is_answered_by_another_and_the_instance_keeps_its_turn()
    {
        await using var router = await RouterHost.StartAsync();
        await using var closing = TcpInstance.Start("v1-0", TcpInstanceBehaviour.CloseWithoutAnswer);
        await using var live = await AppInstance.StartAsync("v1-1");
        await router.RegisterAsync(Route, closing.Port);
        await router.RegisterAsync(Route, live.Port);

        for (var i = 0; i < 6; i++)
        {
            var (status, body, _) = await router.GetAsync(Route);
            Assert.Equal((200, "v1-1"), (status, body));
        }

        Assert.Equal(3, closing.Requests.Count);
        Assert.Equal(3, closing.Connections.Count);
        Assert.Equal(6, live.Requests.Count);
        var failures = router.Logs.GetSnapshot().Where(r => r.Message.StartsWith("backend-endpoint-failed", StringComparison.Ordinal)).ToList();
        Assert.Equal(3, failures.Count);
        Assert.All(failures, f => Assert.EndsWith(": EOF (via idempotent request); retriable: True", f.Message, StringComparison.Ordinal));
        var access = await router.WaitForAccessLogAsync(6);
        Assert.Equal(3, access.Count(line => line.Contains(" attempts:2 ", StringComparison.Ordinal)));
    }

    // isIdempotent: no body (gorouter's reverse proxy sends none for Content-Length 0) and GET/HEAD/OPTIONS/TRACE or a
    // non-empty Idempotency-Key / X-Idempotency-Key. Only then is EOF retriable; otherwise the client gets
    // error_handler.go's 502 with X-Cf-RouterError "endpoint_failure (EOF)" — the transport's io.EOF, not the
    // classifier's wording — and no other instance sees the request.
    [Theory]
    [InlineData("GET", null, null, true)]
    [InlineData("HEAD", null, null, true)]
    [InlineData("OPTIONS", null, null, true)]
    [InlineData("POST", "Idempotency-Key", null, true)]
    [InlineData("POST", "X-Idempotency-Key", null, true)]
    [InlineData("DELETE", "Idempotency-Key", null, true)]
    [InlineData("POST", null, null, false)]
    [InlineData("PUT", null, null, false)]
    [InlineData("DELETE", null, null, false)]
    [InlineData("PATCH", null, null, false)]
    [InlineData("POST", "Idempotency-Key", "{\"amount\":1}", false)]
    [InlineData("GET", null, "a body", false)]
    public async Task Only_an_idempotent_request_is_retried_on_another_instance_after_EOF(string method, string? keyHeader, string? body, bool retried)
    {
        await using var router = await RouterHost.StartAsync();
        await using var closing = TcpInstance.Start("v1-0", TcpInstanceBehaviour.CloseWithoutAnswer);
        await using var live = await AppInstance.StartAsync("v1-1");
        await router.RegisterAsync(Route, closing.Port);
        await router.RegisterAsync(Route, live.Port);

        var (response, liveRequests) = await SendUntilItReachesAsync(router, () =>
        {
            var request = new HttpRequestMessage(new HttpMethod(method), $"https://{Route}/payments");
            if (keyHeader is not null)
            {
                request.Headers.TryAddWithoutValidation(keyHeader, "8e03978e-40d5-43e8-bc93-6894a57f9324");
            }
            if (body is not null)
            {
                request.Content = new StringContent(body, Encoding.UTF8, "application/json");
            }
            else if (method is "POST" or "PUT" or "PATCH")
            {
                request.Content = new ByteArrayContent([]);
            }
            return request;
        }, closing, live);

        using (response)
        {
            if (retried)
            {
                Assert.Equal(200, (int)response.StatusCode);
                Assert.Equal(1, liveRequests);
                Assert.Equal(method == "HEAD" ? "" : "v1-1", await response.Content.ReadAsStringAsync());
            }
            else
            {
                Assert.Equal(502, (int)response.StatusCode);
                Assert.Equal("endpoint_failure (EOF)", response.Headers.GetValues("X-Cf-Routererror").Single());
                Assert.Equal("502 Bad Gateway: Registered endpoint failed to handle the request.\n", await response.Content.ReadAsStringAsync());
                Assert.Equal(0, liveRequests);
            }
        }
    }

    // RoundTrip: attempt n > 1 with n > the route's instance count ends when the iterator comes back to a tried
    // instance; so each instance is tried at most once and at most max_attempts in all. The 502 carries the last
    // attempt's error; the access log's x_cf_routererror is the response's X-Cf-RouterError (handlers/access_log.go).
    [Theory]
    [InlineData(1, 3, 1)]
    [InlineData(2, 3, 2)]
    [InlineData(3, 3, 3)]
    [InlineData(4, 3, 3)]
    [InlineData(3, 2, 2)]
    [InlineData(3, 1, 1)]
    public async Task When_every_instance_closes_without_answering_each_is_tried_at_most_once_up_to_max_attempts(int instances, int maxAttempts, int expectedAttempts)
    {
        await using var router = await RouterHost.StartAsync(new() { ["CfRouter:MaxAttempts"] = maxAttempts.ToString(System.Globalization.CultureInfo.InvariantCulture) });
        var closing = Enumerable.Range(0, instances).Select(i => TcpInstance.Start($"v1-{i}", TcpInstanceBehaviour.CloseWithoutAnswer)).ToList();
        try
        {
            foreach (var instance in closing)
            {
                await router.RegisterAsync(Route, instance.Port);
            }

            var (status, body, response) = await router.GetAsync(Route);

            Assert.Equal(502, status);
            Assert.Equal("502 Bad Gateway: Registered endpoint failed to handle the request.\n", body);
            Assert.Equal("endpoint_failure (EOF)", response.Headers.GetValues("X-Cf-Routererror").Single());
            Assert.Equal(expectedAttempts, closing.Sum(i => i.Requests.Count));
            Assert.All(closing, i => Assert.InRange(i.Requests.Count, 0, 1));
            var access = Assert.Single(await router.WaitForAccessLogAsync(1));
            Assert.Contains($" 502 ", access, StringComparison.Ordinal);
            Assert.Contains($" attempts:{expectedAttempts} x_cf_routererror:\"endpoint_failure (EOF)\" ", access, StringComparison.Ordinal);
        }
        finally
        {
            foreach (var instance in closing)
            {
                await instance.DisposeAsync();
            }
        }
    }

    // A reset while reading is the transport's *net.OpError "read tcp <local>-><remote>: read: connection reset by
    // peer": not retriable (only io.EOF of an idempotent request is), even for a GET, but ConnectionResetOnRead is in
    // FailableClassifiers, so pool.go EndpointFailed marks the instance and roundrobin.go skips it for
    // droplet_stale_threshold / 4 (30 s by default).
    [Fact]
    public async Task A_connection_reset_reads_as_gos_error_is_not_retried_and_the_instance_is_skipped_afterwards()
    {
        await using var router = await RouterHost.StartAsync();
        await using var resetting = TcpInstance.Start("v1-0", TcpInstanceBehaviour.ResetWithoutAnswer);
        await using var live = await AppInstance.StartAsync("v1-1");
        await router.RegisterAsync(Route, resetting.Port);
        await router.RegisterAsync(Route, live.Port);

        var (response, liveRequests) = await SendUntilItReachesAsync(router, () => new HttpRequestMessage(HttpMethod.Get, $"https://{Route}/"), resetting, live);

        using (response)
        {
            var routerEnd = Assert.Single(resetting.Connections);
            Assert.Equal(502, (int)response.StatusCode);
            Assert.Equal($"endpoint_failure (read tcp 127.0.0.1:{routerEnd.Port}->127.0.0.1:{resetting.Port}: read: connection reset by peer)",
                response.Headers.GetValues("X-Cf-Routererror").Single());
            Assert.Equal("502 Bad Gateway: Registered endpoint failed to handle the request.\n", await response.Content.ReadAsStringAsync());
            Assert.Equal(0, liveRequests);
        }
        for (var i = 0; i < 4; i++)
        {
            var (status, body, _) = await router.GetAsync(Route);
            Assert.Equal((200, "v1-1"), (status, body));
        }
        Assert.Single(resetting.Connections);
    }

    // Go's transport (net/http persistConn.shouldRetryRequest) retries by itself, on a new connection to the same
    // instance, when a kept-alive connection closes before the first byte of the response — but only for a
    // replayable request (Request.isReplayable, the same rule as gorouter's isIdempotent). A fresh connection is never
    // retried that way, so a non-replayable request on a reused connection meets io.EOF and gets 502.
    [Fact]
    public async Task A_kept_alive_connection_closed_under_a_request_is_redialled_for_a_GET_but_not_for_a_POST()
    {
        await using var router = await RouterHost.StartAsync();
        await using var instance = TcpInstance.Start("v1-0", TcpInstanceBehaviour.AnswerOnceThenClose);
        await router.RegisterAsync(Route, instance.Port);

        for (var i = 0; i < 2; i++)
        {
            var (status, body, _) = await router.GetAsync(Route);
            Assert.Equal((200, "v1-0"), (status, body));
        }
        Assert.Equal((2, 3), (instance.Connections.Count, instance.Requests.Count));

        using var post = await router.Client.PostAsync($"https://{Route}/", new ByteArrayContent([]));

        Assert.Equal(502, (int)post.StatusCode);
        Assert.Equal("endpoint_failure (EOF)", post.Headers.GetValues("X-Cf-Routererror").Single());
        Assert.Equal((2, 4), (instance.Connections.Count, instance.Requests.Count));
    }

    // A dial error is Dial and IncompleteRequest (no connection, so nothing was sent): retriable for any request,
    // POST with a body included, and failable. The log line gives isRetriable's wording, the response the dial error.
    [Fact]
    public async Task A_POST_with_a_body_goes_to_another_instance_when_the_first_refuses_the_connection()
    {
        await using var router = await RouterHost.StartAsync();
        await using var live = await AppInstance.StartAsync("v1-1");
        var dead = RouterHost.FreePort();
        await router.RegisterAsync(Route, dead);
        await router.RegisterAsync(Route, live.Port);

        for (var i = 0; i < 2; i++)
        {
            using var response = await router.Client.PostAsync($"https://{Route}/orders", new StringContent($"order {i}"));
            Assert.Equal((200, "v1-1"), ((int)response.StatusCode, await response.Content.ReadAsStringAsync()));
        }

        Assert.Equal(["order 0", "order 1"], live.Bodies);
        var failure = Assert.Single(router.Logs.GetSnapshot(), r => r.Message.StartsWith("backend-endpoint-failed", StringComparison.Ordinal));
        Assert.EndsWith($": incomplete request (dial tcp 127.0.0.1:{dead}: connect: connection refused); retriable: True", failure.Message, StringComparison.Ordinal);
    }
}
