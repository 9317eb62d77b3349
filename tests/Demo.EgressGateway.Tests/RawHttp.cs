using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.RegularExpressions;

namespace Demo.EgressGateway.Tests;

/// <summary>HTTP/1.1 over a raw socket, for requests no HTTP client would send.</summary>
public static partial class RawHttp
{
    [GeneratedRegex(@"^HTTP/1\.[01] (\d{3})", RegexOptions.CultureInvariant)]
    private static partial Regex StatusLine();

    public sealed record Answer(int? Status, string Text)
    {
        public override string ToString() => Status is { } status ? $"{status}: {Head}" : $"no HTTP answer ({Text.Length} bytes)";

        public string Head => Text.Length > 300 ? Text[..300] + "…" : Text;
    }

    /// <summary>Sends <paramref name="request"/> as-is and reads until the server closes, a full response is in, or the timeout.</summary>
    public static async Task<Answer> SendAsync(int port, string request, TimeSpan? timeout = null) =>
        await SendAsync(port, Encoding.Latin1.GetBytes(request), timeout);

    public static async Task<Answer> SendAsync(int port, byte[] request, TimeSpan? timeout = null)
    {
        using var cancel = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(10));
        using var client = new TcpClient();
        await client.ConnectAsync(IPAddress.Loopback, port, cancel.Token);
        var stream = client.GetStream();
        try
        {
            await stream.WriteAsync(request, cancel.Token);
        }
        catch (IOException)
        {
            // The server may answer and close before it has read everything (e.g. 431 on huge headers).
        }

        var received = new MemoryStream();
        var buffer = new byte[16 * 1024];
        try
        {
            while (true)
            {
                var read = await stream.ReadAsync(buffer, cancel.Token);
                if (read == 0)
                {
                    break;
                }
                received.Write(buffer, 0, read);
                if (IsComplete(received))
                {
                    break;
                }
            }
        }
        catch (Exception ex) when (ex is IOException or OperationCanceledException or SocketException)
        {
        }
        var text = Encoding.Latin1.GetString(received.ToArray());
        var match = StatusLine().Match(text);
        return new Answer(match.Success ? int.Parse(match.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture) : null, text);
    }

    private static bool IsComplete(MemoryStream received)
    {
        var text = Encoding.Latin1.GetString(received.GetBuffer(), 0, (int)received.Length);
        var end = text.IndexOf("\r\n\r\n", StringComparison.Ordinal);
        if (end < 0)
        {
            return false;
        }
        var length = Regex.Match(text[..end], @"(?im)^content-length:\s*(\d+)");
        return length.Success
            ? text.Length - end - 4 >= int.Parse(length.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture)
            : text.Contains("\r\n0\r\n\r\n", StringComparison.Ordinal);
    }
}

/// <summary>
/// A TCP listener on 127.0.0.1 that nobody should ever connect to: the "internal service" an attacker would like
/// a proxy to reach. It counts connections and records what they send.
/// </summary>
public sealed class CanaryListener : IAsyncDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _accepting;

    public CanaryListener()
    {
        _listener.Start();
        Port = ((IPEndPoint)_listener.LocalEndpoint).Port;
        _accepting = AcceptAsync();
    }

    public int Port { get; }

    public ConcurrentQueue<string> Connections { get; } = new();

    private async Task AcceptAsync()
    {
        try
        {
            while (!_stop.IsCancellationRequested)
            {
                using var client = await _listener.AcceptTcpClientAsync(_stop.Token);
                var buffer = new byte[4096];
                using var read = CancellationTokenSource.CreateLinkedTokenSource(_stop.Token);
                read.CancelAfter(TimeSpan.FromSeconds(1));
                var count = 0;
                try
                {
                    count = await client.GetStream().ReadAsync(buffer, read.Token);
                }
                catch (Exception ex) when (ex is OperationCanceledException or IOException)
                {
                }
                Connections.Enqueue(Encoding.Latin1.GetString(buffer, 0, count));
            }
        }
        catch (Exception ex) when (ex is OperationCanceledException or ObjectDisposedException or SocketException)
        {
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Stop();
        await _accepting;
        _stop.Dispose();
    }
}
