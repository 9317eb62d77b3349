using System.Text;
using Demo.EgressGateway.Tests;

namespace Demo.Proxy.Tests;

/// <summary>
/// The proxy calls one configured target and nothing else: whatever a request says in its Host, forwarding headers,
/// request target or path, the only connection it makes is to Upstream:BaseAddress (or its HttpProxy), for GET /.
/// A canary listener on another local port stands for everything an attacker would like to reach.
/// </summary>
public sealed class ProxySsrfTests(ITestOutputHelper output)
{
    private static IEnumerable<(string Name, string Request)> Attacks(int canary)
    {
        var there = $"127.0.0.1:{canary}";
        yield return ("plain", "GET / HTTP/1.1\r\nHost: proxy\r\n");
        yield return ("Host elsewhere", $"GET / HTTP/1.1\r\nHost: {there}\r\n");
        yield return ("X-Forwarded-Host", $"GET / HTTP/1.1\r\nHost: proxy\r\nX-Forwarded-Host: {there}\r\nX-Forwarded-Proto: http\r\n");
        yield return ("Forwarded", $"GET / HTTP/1.1\r\nHost: proxy\r\nForwarded: host={there};proto=http\r\n");
        yield return ("X-Original-URL / X-Rewrite-URL", $"GET / HTTP/1.1\r\nHost: proxy\r\nX-Original-URL: http://{there}/\r\nX-Rewrite-URL: http://{there}/\r\n");
        yield return (":authority header", $"GET / HTTP/1.1\r\nHost: proxy\r\n:authority: {there}\r\n");
        yield return ("absolute URI elsewhere", $"GET http://{there}/ HTTP/1.1\r\nHost: {there}\r\n");
        yield return ("absolute URI elsewhere, other Host", $"GET http://{there}/ HTTP/1.1\r\nHost: proxy\r\n");
        yield return ("absolute URI with userinfo", $"GET http://proxy@{there}/ HTTP/1.1\r\nHost: {there}\r\n");
        yield return ("double slash path", $"GET //{there}/ HTTP/1.1\r\nHost: proxy\r\n");
        yield return ("at-sign path", $"GET /@{there} HTTP/1.1\r\nHost: proxy\r\n");
        yield return ("encoded slashes", $"GET /%2F%2F{there}/ HTTP/1.1\r\nHost: proxy\r\n");
        yield return ("encoded dot segments", $"GET /..%2F..%2F{there}/ HTTP/1.1\r\nHost: proxy\r\n");
        yield return ("URL as path", $"GET /http://{there}/ HTTP/1.1\r\nHost: proxy\r\n");
        yield return ("URL in query", $"GET /?url=http://{there}/&target={there} HTTP/1.1\r\nHost: proxy\r\n");
        yield return ("backslashes", $"GET /\\\\{there}\\ HTTP/1.1\r\nHost: proxy\r\n");
        yield return ("POST", $"POST / HTTP/1.1\r\nHost: {there}\r\nContent-Length: 0\r\n");
        yield return ("PUT", $"PUT / HTTP/1.1\r\nHost: {there}\r\nContent-Length: 0\r\n");
        yield return ("TRACE", $"TRACE / HTTP/1.1\r\nHost: proxy\r\n");
        yield return ("OPTIONS *", "OPTIONS * HTTP/1.1\r\nHost: proxy\r\n");
        yield return ("CONNECT", $"CONNECT {there} HTTP/1.1\r\nHost: {there}\r\n");
        yield return ("oversized header", $"GET / HTTP/1.1\r\nHost: proxy\r\nX-Big: {new string('a', 64 * 1024)}\r\n");
        yield return ("two Hosts", $"GET / HTTP/1.1\r\nHost: proxy\r\nHost: {there}\r\n");
        yield return ("malformed request line", "GET  / HTTP/1.1 junk\r\nHost: proxy\r\n");
        yield return ("not HTTP", "HELLO\r\n");
    }

    private async Task AttackAsync(ProxyHost proxy, RecordingUpstream upstream, CanaryListener canary, Action<RecordingUpstream.Recorded> assertOnlyTarget)
    {
        var table = new StringBuilder();
        var served = 0;
        foreach (var (name, request) in Attacks(canary.Port))
        {
            var before = upstream.Requests.Count;
            var answer = await RawHttp.SendAsync(proxy.Port, request + "Connection: close\r\n\r\n");
            table.AppendLine($"{name}: {answer.Status?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "no answer"}");
            Assert.True(answer.Status is not null || name == "not HTTP", $"{name}: {answer}");
            if (answer.Status == 200)
            {
                served++;
                Assert.EndsWith(RecordingUpstream.Body, answer.Text, StringComparison.Ordinal);
                Assert.Equal(before + 1, upstream.Requests.Count);
            }
            else
            {
                Assert.True(answer.Status is null or (>= 400 and < 500), $"{name}: {answer}");
                Assert.Equal(before, upstream.Requests.Count);
            }
        }
        output.WriteLine(table.ToString());

        Assert.True(canary.Connections.IsEmpty, $"the canary was reached: {string.Join(" | ", canary.Connections)}");
        Assert.Equal(served, upstream.Requests.Count);
        Assert.True(served >= 5, table.ToString());
        Assert.All(upstream.Requests, r =>
        {
            Assert.Equal("GET", r.Method);
            Assert.Equal("/", r.Path);
            Assert.Equal("", r.Query);
            // Nothing of the incoming request is passed on: no forwarding headers an upstream could trust.
            Assert.DoesNotContain(r.HeaderNames, h => h.StartsWith("X-Forwarded", StringComparison.OrdinalIgnoreCase)
                || h.Equals("Forwarded", StringComparison.OrdinalIgnoreCase) || h.StartsWith("X-Original", StringComparison.OrdinalIgnoreCase)
                || h.Equals("X-Big", StringComparison.OrdinalIgnoreCase));
            assertOnlyTarget(r);
        });
    }

    [Fact]
    public async Task Whatever_the_request_says_only_the_configured_BaseAddress_is_called_for_GET_slash()
    {
        await using var upstream = await RecordingUpstream.StartAsync();
        await using var canary = new CanaryListener();
        await using var proxy = await ProxyHost.StartAsync(new Dictionary<string, string?>
        {
            ["Upstream:BaseAddress"] = $"http://127.0.0.1:{upstream.Port}/",
        });

        await AttackAsync(proxy, upstream, canary, r =>
        {
            Assert.Equal($"127.0.0.1:{upstream.Port}", r.Host);
            Assert.Equal("/", r.RawTarget);
        });
    }

    [Fact]
    public async Task Through_its_HTTP_proxy_the_proxy_asks_only_for_the_configured_in_mesh_name()
    {
        // The local wiring: BaseAddress is the in-mesh name, the egress gateway is the HTTP proxy (here: the recorder).
        await using var upstream = await RecordingUpstream.StartAsync();
        await using var canary = new CanaryListener();
        await using var proxy = await ProxyHost.StartAsync(new Dictionary<string, string?>
        {
            ["Upstream:BaseAddress"] = "http://hello.external/",
            ["Upstream:HttpProxy"] = $"http://127.0.0.1:{upstream.Port}/",
        });

        await AttackAsync(proxy, upstream, canary, r =>
        {
            Assert.Equal("hello.external", r.Host);
            Assert.Equal("http://hello.external/", r.RawTarget);
        });
    }

    [Fact]
    public async Task An_HttpClient_using_the_proxy_as_its_HTTP_proxy_gets_the_configured_target_not_its_own()
    {
        // Someone points a client at the proxy as if it were a forward proxy: it still only answers from its target.
        await using var upstream = await RecordingUpstream.StartAsync();
        await using var canary = new CanaryListener();
        await using var proxy = await ProxyHost.StartAsync(new Dictionary<string, string?>
        {
            ["Upstream:BaseAddress"] = $"http://127.0.0.1:{upstream.Port}/",
        });
        using var client = new HttpClient(new SocketsHttpHandler { Proxy = new System.Net.WebProxy(proxy.Url), UseProxy = true });

        var body = await client.GetStringAsync($"http://127.0.0.1:{canary.Port}/");

        Assert.Equal(RecordingUpstream.Body, body);
        Assert.True(canary.Connections.IsEmpty);
        Assert.Single(upstream.Requests);
    }
}
