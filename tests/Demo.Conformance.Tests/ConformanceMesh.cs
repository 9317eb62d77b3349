using System.Collections.Concurrent;
using System.Net;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json;
using System.Text.RegularExpressions;
using Demo.DevCertificates;
using Demo.EgressGateway;

namespace Demo.Conformance.Tests;

/// <summary>
/// An external service the mesh reaches: a host name, served by its own <see cref="EchoUpstream"/>, over TLS
/// (the gateway connects to the echo's HTTPS port) or plain HTTP. <paramref name="Certificate"/> issues the
/// certificate the echo presents for an SNI (default: one for that SNI from the test CA).
/// </summary>
/// <paramref name="Endpoint"/>, when set, maps the host there instead (e.g. a closed port) and starts no echo.
public sealed record External(string Host, bool Tls = false, Func<string, X509Certificate2>? Certificate = null, string? Endpoint = null)
{
    /// <summary>When set, the echo's TLS port requires a client certificate issued by this CA (a server asking for mTLS).</summary>
    public X509Certificate2? ClientCa { get; init; }

    /// <summary>The instance name the echo reports: the first label of the host.</summary>
    public string Name => Host.Split('.')[0];
}

/// <summary>What the client got back through the gateway.</summary>
public sealed record Reply(int Status, string Body, HttpResponseHeaders Headers, EchoRequest? Echo)
{
    /// <summary>The echo's report; fails the test when the answer did not come from an echo upstream.</summary>
    public EchoRequest Received => Echo ?? throw new Xunit.Sdk.XunitException(
        $"expected an answer from the echo upstream, got {Status}: {Body}");

    public override string ToString() => $"{Status} {Body}";
}

/// <summary>Response headers with case-insensitive lookup.</summary>
public sealed class HttpResponseHeaders(Dictionary<string, string> values)
{
    public string? this[string name] => values.TryGetValue(name, out var v) ? v : null;
}

/// <summary>One Envoy-style access-log line of the gateway: stage (sidecar or gateway), status and response flags.</summary>
public sealed record AccessLogLine(string Stage, string Method, string Path, int Status, string Flags, string Line);

/// <summary>
/// The local egress gateway in-process on 127.0.0.1, reading a folder holding the YAML a test wrote — the complete
/// Istio configuration, as <c>kubectl apply</c> would leave it — with each <see cref="External"/> host mapped to its
/// own echo upstream (<c>EgressGateway:Upstreams</c>, a hosts file: Host and SNI stay the external name). Requests go
/// through the gateway as through an HTTP proxy, which is what the sidecar's interception is in a cluster; the
/// gateway then plays the caller's sidecar and, for destinations that are the egress gateway service, Istio's
/// egress gateway (Gateways selected by <c>istio: egressgateway</c>).
/// </summary>
public sealed partial class ConformanceMesh : IAsyncDisposable
{
    /// <summary>Istio's egress gateway Service, as VirtualServices name it.</summary>
    public const string EgressGatewayService = "istio-egressgateway.istio-system.svc.cluster.local";

    private readonly WebApplication _app;
    private readonly ConcurrentQueue<string> _logs;
    private int _answered;

    private ConformanceMesh(WebApplication app, string folder, Dictionary<string, EchoUpstream> echoes, ConcurrentQueue<string> logs)
    {
        _app = app;
        Folder = folder;
        Echoes = echoes;
        _logs = logs;
        Url = new Uri(app.Urls.First());
        Client = new HttpClient(new SocketsHttpHandler
        {
            Proxy = new WebProxy(Url),
            UseProxy = true,
            AllowAutoRedirect = false,
            UseCookies = false,
            AutomaticDecompression = DecompressionMethods.None,
        })
        { Timeout = TimeSpan.FromSeconds(30) };
    }

    public Uri Url { get; }

    public string Folder { get; }

    /// <summary>An HTTP client whose proxy is the gateway.</summary>
    public HttpClient Client { get; }

    /// <summary>Echo upstream by host.</summary>
    public IReadOnlyDictionary<string, EchoUpstream> Echoes { get; }

    public EchoUpstream Echo(string host) => Echoes[host];

    /// <summary>Everything the gateway logged, in order.</summary>
    public IReadOnlyList<string> Logs => [.. _logs];

    /// <summary>The access-log lines, in order.</summary>
    public IReadOnlyList<AccessLogLine> AccessLog => [.. _logs.Select(ParseAccessLog).OfType<AccessLogLine>()];

    /// <summary>
    /// Writes <paramref name="yaml"/> to a fresh folder, starts one echo upstream per external and the gateway on
    /// that folder. Throws what the gateway throws when it refuses the configuration.
    /// </summary>
    public static Task<ConformanceMesh> StartAsync(string yaml, params External[] externals) =>
        StartAsync(yaml, new Dictionary<string, string?>(), externals);

    /// <summary>
    /// <see cref="StartAsync(string, External[])"/> with more gateway settings, e.g.
    /// <c>EgressGateway:Credentials:&lt;secret&gt;</c>.
    /// </summary>
    public static async Task<ConformanceMesh> StartAsync(string yaml, IReadOnlyDictionary<string, string?> extraSettings, params External[] externals)
    {
        var folder = Path.Combine(Path.GetTempPath(), "demo-conformance-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(folder);
        File.WriteAllText(Path.Combine(folder, "istio.yaml"), yaml);

        var echoes = new Dictionary<string, EchoUpstream>(StringComparer.OrdinalIgnoreCase);
        try
        {
            foreach (var external in externals.Where(e => e.Endpoint is null))
            {
                echoes[external.Host] = await EchoUpstream.StartAsync(external.Name,
                    external.Certificate ?? (sni => EchoUpstream.Issue(TestCa.Certificate, sni)), external.ClientCa);
            }

            var settings = new Dictionary<string, string?>
            {
                ["EgressGateway:ConfigDirectory"] = folder,
                ["EgressGateway:TrustedCaPath"] = TestCa.Authority.CaCertificatePath,
                ["EgressGateway:WatchConfiguration"] = "false",
                ["EgressGateway:AccessLog"] = "true",
            };
            foreach (var (key, value) in extraSettings)
            {
                settings[key] = value;
            }
            foreach (var external in externals)
            {
                settings[$"EgressGateway:Upstreams:{external.Host}"] = external.Endpoint is { } endpoint ? endpoint
                    : $"127.0.0.1:{(external.Tls ? echoes[external.Host].HttpsPort : echoes[external.Host].HttpPort)}";
            }

            var builder = WebApplication.CreateBuilder(new WebApplicationOptions { EnvironmentName = "Test" });
            var logs = new ConcurrentQueue<string>();
            builder.Logging.ClearProviders();
            builder.Logging.AddProvider(new QueueLoggerProvider(logs));
            builder.Logging.SetMinimumLevel(LogLevel.Information);
            builder.WebHost.UseUrls("http://127.0.0.1:0");
            builder.Configuration.AddInMemoryCollection(settings);
            builder.AddEgressGateway();
            var app = builder.Build();
            try
            {
                app.UseMeshListener();
                await app.StartAsync();
            }
            catch
            {
                await app.DisposeAsync();
                throw;
            }
            return new ConformanceMesh(app, folder, echoes, logs);
        }
        catch
        {
            foreach (var echo in echoes.Values)
            {
                await echo.DisposeAsync();
            }
            TryDelete(folder);
            throw;
        }
    }

    /// <summary>
    /// Starts the gateway on <paramref name="yaml"/> expecting it to refuse the configuration; returns the messages
    /// of the exception it threw (outer and inner), or fails the test when it started.
    /// </summary>
    public static async Task<string> RefusalAsync(string yaml)
    {
        try
        {
            await using var mesh = await StartAsync(yaml);
        }
        catch (Exception ex)
        {
            var messages = new List<string>();
            for (var current = ex; current is not null; current = current.InnerException)
            {
                messages.Add(current.Message);
            }
            return string.Join(Environment.NewLine, messages);
        }
        throw new Xunit.Sdk.XunitException("the gateway started on a configuration it should have refused:\n" + yaml);
    }

    /// <summary>
    /// The cluster <paramref name="name"/> of a proxy (<c>sidecar</c> or <c>gateway</c>) as the admin port's
    /// <c>/config_dump?resource=dynamic_active_clusters</c> shows it for the running configuration.
    /// </summary>
    public JsonElement DumpedCluster(string proxy, string name) => Dumped(proxy, Demo.EgressGateway.Envoy.ConfigDump.ClustersResource, name);

    /// <summary>The listener <paramref name="name"/> of a proxy as <c>/config_dump?resource=dynamic_listeners</c> shows it.</summary>
    public JsonElement DumpedListener(string proxy, string name) => Dumped(proxy, Demo.EgressGateway.Envoy.ConfigDump.ListenersResource, name);

    /// <summary>The route configuration <paramref name="name"/> of a proxy as <c>/config_dump?resource=dynamic_route_configs</c> shows it.</summary>
    public JsonElement DumpedRouteConfig(string proxy, string name) => Dumped(proxy, Demo.EgressGateway.Envoy.ConfigDump.RoutesResource, name);

    private JsonElement Dumped(string proxy, string resource, string name)
    {
        var current = _app.Services.GetRequiredService<Demo.EgressGateway.Mesh.MeshSnapshotProvider>().Current;
        var config = proxy == "sidecar" ? current.Xds.Sidecar : current.Xds.Gateway;
        using var dump = JsonDocument.Parse(Demo.EgressGateway.Envoy.ConfigDump.ToJson(config, resource));
        return dump.RootElement.EnumerateArray().Single(c => c.GetProperty("name").GetString() == name).Clone();
    }

    /// <summary>Sends a request through the gateway; <paramref name="configure"/> may set method, headers, body.</summary>
    public async Task<Reply> SendAsync(string url, Action<HttpRequestMessage>? configure = null)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, url);
        configure?.Invoke(request);
        using var response = await Client.SendAsync(request);
        var body = await response.Content.ReadAsStringAsync();
        Interlocked.Increment(ref _answered);
        var headers = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        // As sent: the parsed view would normalize values (a Location URI loses a default :80).
        foreach (var (name, values) in response.Headers.NonValidated.Concat(response.Content.Headers.NonValidated))
        {
            headers[name] = string.Join(",", values);
        }
        EchoRequest? echo = null;
        if (response.Content.Headers.ContentType?.MediaType == "application/json")
        {
            echo = JsonSerializer.Deserialize<EchoRequest>(body);
        }
        return new Reply((int)response.StatusCode, body, new HttpResponseHeaders(headers), echo);
    }

    /// <summary>GET with extra request headers.</summary>
    /// <summary>GETs <paramref name="url"/> <paramref name="count"/> times, one after the other; each reply must be a 200 the echo upstream answered.</summary>
    public async Task<IReadOnlyList<EchoRequest>> GetOkAsync(string url, int count)
    {
        var received = new List<EchoRequest>();
        for (var i = 0; i < count; i++)
        {
            var reply = await GetAsync(url);
            Assert.Equal(200, reply.Status);
            received.Add(reply.Received);
        }
        return received;
    }

    public Task<Reply> GetAsync(string url, params (string Name, string Value)[] headers) =>
        SendAsync(url, request =>
        {
            foreach (var (name, value) in headers)
            {
                request.Headers.TryAddWithoutValidation(name, value);
            }
        });

    /// <summary>
    /// The access-log line of <paramref name="stage"/> for the last request it logged. A stage writes its line when it
    /// ends, which can be just after the client has the answer (Envoy too logs at stream end), so the previous
    /// request's line can still be the last one: waits up to 5 s until the sidecar has logged every request answered
    /// so far (one line per downstream request, as Envoy's), the gateway one line per sidecar try that reached it, and
    /// the stage has a line.
    /// </summary>
    public AccessLogLine LastAccessLog(string stage) => LastAccessLog(stage, _ => true, "");

    private AccessLogLine LastAccessLog(string stage, Func<AccessLogLine, bool> match, string what)
    {
        var deadline = DateTime.UtcNow.AddSeconds(5);
        while (true)
        {
            var log = AccessLog;
            var sidecar = log.Where(l => l.Stage == "sidecar").ToList();
            if (sidecar.Count >= Volatile.Read(ref _answered)
                && log.Count(l => l.Stage == "gateway") >= sidecar.Sum(l => Demo.Tests.MeshAccessLog.TriesThatReachedTheGateway(l.Line))
                && log.LastOrDefault(l => l.Stage == stage && match(l)) is { } line)
            {
                return line;
            }
            if (DateTime.UtcNow > deadline)
            {
                // A try that reached the gateway's listener but not its HTTP connection manager (a closed handshake) has no gateway line.
                if (log.LastOrDefault(l => l.Stage == stage && match(l)) is { } last && sidecar.Count >= Volatile.Read(ref _answered))
                {
                    return last;
                }
                throw new Xunit.Sdk.XunitException($"no [{stage}] access-log line{what} after {Volatile.Read(ref _answered)} answered requests; the gateway logged:\n{string.Join("\n", Logs)}");
            }
            Thread.Sleep(10);
        }
    }

    /// <summary>
    /// The access-log line of <paramref name="stage"/> for the last request it logged to <paramref name="authority"/>
    /// (the line's <c>authority=</c> field); waits as <see cref="LastAccessLog(string)"/> does.
    /// </summary>
    public AccessLogLine LastAccessLog(string stage, string authority) =>
        LastAccessLog(stage, l => l.Line.Contains($" authority={authority} ", StringComparison.Ordinal), $" for {authority}");

    [GeneratedRegex("""^\[(?<stage>\w+)\] "(?<method>\S+) (?<path>\S+) [^"]*" (?<status>\d{3}) (?<flags>\S+)""")]
    private static partial Regex AccessLogPattern();

    private static AccessLogLine? ParseAccessLog(string line)
    {
        var match = AccessLogPattern().Match(line);
        return match.Success
            ? new AccessLogLine(match.Groups["stage"].Value, match.Groups["method"].Value, match.Groups["path"].Value,
                int.Parse(match.Groups["status"].Value, System.Globalization.CultureInfo.InvariantCulture), match.Groups["flags"].Value, line)
            : null;
    }

    public async ValueTask DisposeAsync()
    {
        Client.Dispose();
        await _app.StopAsync();
        await _app.DisposeAsync();
        foreach (var echo in Echoes.Values)
        {
            await echo.DisposeAsync();
        }
        TryDelete(Folder);
    }

    private static void TryDelete(string folder)
    {
        try
        {
            Directory.Delete(folder, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    private sealed class QueueLoggerProvider(ConcurrentQueue<string> entries) : ILoggerProvider
    {
        public ILogger CreateLogger(string categoryName) => new QueueLogger(entries);

        public void Dispose()
        {
        }
    }

    private sealed class QueueLogger(ConcurrentQueue<string> entries) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Information;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            entries.Enqueue(formatter(state, exception));
    }
}

/// <summary>The CAs of the test run: the trusted one (the gateway's TrustedCaPath) and an untrusted "fake root".</summary>
public static class TestCa
{
    private static readonly Lazy<LocalCertificateAuthority> Trusted = new(() =>
        LocalCertificateAuthority.LoadOrCreate(Path.Combine(Path.GetTempPath(), "demo-conformance-ca"), "Demo conformance CA"));

    private static readonly Lazy<LocalCertificateAuthority> Fake = new(() =>
        LocalCertificateAuthority.LoadOrCreate(Path.Combine(Path.GetTempPath(), "demo-conformance-fake-ca"), "Demo conformance fake root"));

    public static LocalCertificateAuthority Authority => Trusted.Value;

    public static X509Certificate2 Certificate => Authority.Certificate;

    /// <summary>PEM of the trusted CA (what Istio's tests mount as root-cert.pem).</summary>
    public static string RootCertPath => Authority.CaCertificatePath;

    /// <summary>PEM of a CA that did not issue the echo's certificates (Istio's fake-root-cert.pem).</summary>
    public static string FakeRootCertPath => Fake.Value.CaCertificatePath;

    /// <summary>That fake root, with its key (it issues the certificates the echo's CA did not).</summary>
    public static X509Certificate2 FakeCertificate => Fake.Value.Certificate;
}
