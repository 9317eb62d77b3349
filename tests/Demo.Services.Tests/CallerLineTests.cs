using System.Net;
using Demo.Caller;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace Demo.Services.Tests;

/// <summary>The caller's one line per tick: <c>&lt;ISO-8601 timestamp with offset&gt;\t&lt;body or error&gt;</c>, whatever happened.</summary>
public sealed class CallerLineTests
{
    [Fact]
    public void A_line_is_the_timestamp_with_its_offset_a_tab_and_the_text()
    {
        Assert.Equal("2022-02-04T10:34:37+00:00\tfault filter abort",
            CallerWorker.Format(new DateTimeOffset(2022, 2, 4, 10, 34, 37, TimeSpan.Zero), "fault filter abort"));
        Assert.Equal("2026-11-25T11:34:33+01:00\tHello K8s, from CF v1 service!",
            CallerWorker.Format(new DateTimeOffset(2026, 11, 25, 11, 34, 33, TimeSpan.FromHours(1)), "Hello K8s, from CF v1 service!"));
        Assert.Equal("2026-11-25T05:04:03-05:30\tx",
            CallerWorker.Format(new DateTimeOffset(2026, 11, 25, 5, 4, 3, 999, TimeSpan.FromMinutes(-330)), "x"));
    }

    [Theory]
    [InlineData(200, "Hello K8s, from CF v1 service!", "v1")]
    [InlineData(200, "Hello K8s, from CF v2 service!", "v2")]
    [InlineData(418, "fault filter abort", "fault")]
    [InlineData(503, "fault filter abort", "fault")]
    [InlineData(404, "Hello K8s, from CF v1 service!", "other")]
    [InlineData(200, "fault filter abort!", "other")]
    [InlineData(503, "upstream connect error or disconnect/reset before headers. reset reason: connection failure", "other")]
    [InlineData(504, "upstream request timeout", "other")]
    [InlineData(502, "", "other")]
    public void Answers_are_classified_as_v1_v2_fault_or_other(int status, string body, string expected) =>
        Assert.Equal(expected, CallerWorker.Classify(status, body));

    [Fact]
    public async Task Every_tick_prints_exactly_one_line_whatever_the_proxy_does()
    {
        var answers = new Queue<Func<HttpResponseMessage>>(
        [
            () => new HttpResponseMessage(HttpStatusCode.OK) { Content = new StringContent("Hello K8s, from CF v2 service!") },
            () => new HttpResponseMessage((HttpStatusCode)418) { Content = new StringContent("fault filter abort") },
            () => new HttpResponseMessage(HttpStatusCode.BadGateway),
            () => new HttpResponseMessage(HttpStatusCode.NotFound) { Content = new StringContent("404 Not Found:\nRequested route ('x') does not exist.\n") },
            () => throw new HttpRequestException("Connection refused (127.0.0.1:1)"),
        ]);
        var output = new Lines();
        using var services = new ServiceCollection().AddMetrics().BuildServiceProvider();
        var worker = new CallerWorker(
            new ProxyClient(new HttpClient(new Stub(answers)) { BaseAddress = new Uri("http://proxy/") }),
            output,
            new CallerMetrics(services.GetRequiredService<System.Diagnostics.Metrics.IMeterFactory>()),
            TimeProvider.System,
            Options.Create(new CallerOptions()),
            NullLogger<CallerWorker>.Instance);
        var tick = new DateTimeOffset(2026, 11, 25, 10, 0, 0, TimeSpan.Zero);

        for (var i = 0; i < 5; i++)
        {
            await worker.TickAsync(tick.AddSeconds(i), TimeSpan.FromSeconds(5), CancellationToken.None);
        }
        // A proxy that never answers: the line comes when the request timeout fires.
        var hang = new CallerWorker(
            new ProxyClient(new HttpClient(new Hang()) { BaseAddress = new Uri("http://proxy/") }),
            output,
            new CallerMetrics(services.GetRequiredService<System.Diagnostics.Metrics.IMeterFactory>()),
            TimeProvider.System,
            Options.Create(new CallerOptions()),
            NullLogger<CallerWorker>.Instance);
        await hang.TickAsync(tick.AddSeconds(5), TimeSpan.FromMilliseconds(200), CancellationToken.None);

        Assert.Equal(
        [
            "2026-11-25T10:00:00+00:00\tHello K8s, from CF v2 service!",
            "2026-11-25T10:00:01+00:00\tfault filter abort",
            "2026-11-25T10:00:02+00:00\tHTTP 502",
            "2026-11-25T10:00:03+00:00\t404 Not Found: Requested route ('x') does not exist.",
            "2026-11-25T10:00:04+00:00\terror: Connection refused (127.0.0.1:1)",
            "2026-11-25T10:00:05+00:00\terror: no answer within 0.2 s",
        ], output.Written);
        Assert.All(output.Written, line => Assert.DoesNotContain('\n', line));
    }

    private sealed class Lines : ICallerOutput
    {
        public List<string> Written { get; } = [];

        public void WriteLine(string line)
        {
            lock (Written)
            {
                Written.Add(line);
            }
        }
    }

    private sealed class Stub(Queue<Func<HttpResponseMessage>> answers) : HttpMessageHandler
    {
        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken) =>
            Task.FromResult(answers.Dequeue()());
    }

    private sealed class Hang : HttpMessageHandler
    {
        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            await Task.Delay(Timeout.Infinite, cancellationToken);
            throw new InvalidOperationException("unreachable");
        }
    }
}
