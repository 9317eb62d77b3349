using System.Net;
using System.Net.Sockets;
using OpenTelemetry;

namespace Demo.CfApps;

/// <summary>
/// Diego's start-up health check of an app instance (cloudfoundry/healthcheck in start-up mode, as the executor runs
/// it for <c>health-check-type</c> <c>http</c> or <c>port</c>): tried every <c>-startup-interval</c> until it passes,
/// each try bounded by <c>-timeout</c> (1 s). <c>http</c> passes on a 200 from <c>GET http://127.0.0.1:$PORT{endpoint}</c>;
/// <c>port</c> on an accepted TCP connection.
/// </summary>
public static class StartupHealthCheck
{
    /// <summary>One try's bound: cloudfoundry/healthcheck's <c>-timeout</c> default.</summary>
    public static readonly TimeSpan TryTimeout = TimeSpan.FromSeconds(1);

    /// <summary>
    /// True once the instance on <paramref name="port"/> (loopback) passes: a 200 for <paramref name="httpEndpoint"/>
    /// (a path such as <c>/health</c>, asked with healthcheck.go's <c>User-Agent: diego-healthcheck</c> and
    /// <c>X-Forwarded-Proto: https</c>), or an accepted connection when it is empty; false when it has not passed
    /// within <paramref name="startupTimeout"/> (the process's health-check <c>timeout</c>, 60 s by default: Diego
    /// then fails the start and crashes the instance). Throws <see cref="OperationCanceledException"/> when
    /// <paramref name="cancellationToken"/> ends the wait first.
    /// </summary>
    public static async Task<bool> WaitUntilHealthyAsync(int port, string? httpEndpoint, TimeSpan interval, TimeSpan startupTimeout,
        CancellationToken cancellationToken)
    {
        using var http = new HttpClient { Timeout = TryTimeout };
        http.DefaultRequestHeaders.UserAgent.ParseAdd("diego-healthcheck");
        http.DefaultRequestHeaders.Add("X-Forwarded-Proto", "https");
        // Platform plumbing, not the app's traffic: no spans for the checks.
        using var _ = SuppressInstrumentationScope.Begin();
        var deadline = DateTime.UtcNow + startupTimeout;
        while (!await PassesAsync(http, port, httpEndpoint, cancellationToken))
        {
            if (DateTime.UtcNow >= deadline)
            {
                return false;
            }
            await Task.Delay(interval, cancellationToken);
        }
        return true;
    }

    private static async Task<bool> PassesAsync(HttpClient http, int port, string? httpEndpoint, CancellationToken cancellationToken)
    {
        try
        {
            if (string.IsNullOrEmpty(httpEndpoint))
            {
                using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                timeout.CancelAfter(TryTimeout);
                await socket.ConnectAsync(IPAddress.Loopback, port, timeout.Token);
                return true;
            }
            using var response = await http.GetAsync(new Uri($"http://127.0.0.1:{port}{httpEndpoint}"), cancellationToken);
            return response.StatusCode == HttpStatusCode.OK;
        }
        catch (Exception ex) when (ex is HttpRequestException or SocketException
            or OperationCanceledException && !cancellationToken.IsCancellationRequested)
        {
            return false;
        }
    }
}
