using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Demo.CfRouter.Tests;

/// <summary>How a <see cref="TcpInstance"/> treats a request.</summary>
public enum TcpInstanceBehaviour
{
    /// <summary>Reads the request head, then closes the connection (FIN) without a byte of response.</summary>
    CloseWithoutAnswer,

    /// <summary>Reads the request head, then resets the connection (RST, linger 0) without a byte of response.</summary>
    ResetWithoutAnswer,

    /// <summary>Answers the first request of each connection (200, its name), then closes on the next without answering.</summary>
    AnswerOnceThenClose,
}

/// <summary>
/// An app instance on 127.0.0.1 that misbehaves at the TCP level, as only a raw socket can; it records every request
/// head it read and the router's end of every connection it accepted.
/// </summary>
public sealed class TcpInstance : IAsyncDisposable
{
    private readonly Socket _listener;
    private readonly TcpInstanceBehaviour _behaviour;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _accepting;

    private TcpInstance(string name, TcpInstanceBehaviour behaviour)
    {
        Name = name;
        _behaviour = behaviour;
        _listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        _listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        _listener.Listen(16);
        Port = ((IPEndPoint)_listener.LocalEndPoint!).Port;
        _accepting = AcceptAsync();
    }

    public string Name { get; }
    public int Port { get; }

    /// <summary>The request heads read, in order (request line and headers).</summary>
    public ConcurrentQueue<string> Requests { get; } = new();

    /// <summary>The router's address of each accepted connection, as the instance saw it.</summary>
    public ConcurrentQueue<IPEndPoint> Connections { get; } = new();

    public static TcpInstance Start(string name, TcpInstanceBehaviour behaviour) => new(name, behaviour);

    private async Task AcceptAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            Socket connection;
            try
            {
                connection = await _listener.AcceptAsync(_stop.Token);
            }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException or SocketException)
            {
                return;
            }
            Connections.Enqueue((IPEndPoint)connection.RemoteEndPoint!);
            _ = ServeAsync(connection);
        }
    }

    private async Task ServeAsync(Socket connection)
    {
        try
        {
            var answered = 0;
            var buffer = new byte[16 * 1024];
            var pending = new StringBuilder();
            while (true)
            {
                var end = pending.ToString().IndexOf("\r\n\r\n", StringComparison.Ordinal);
                if (end < 0)
                {
                    var read = await connection.ReceiveAsync(buffer, SocketFlags.None, _stop.Token);
                    if (read == 0)
                    {
                        break;
                    }
                    pending.Append(Encoding.Latin1.GetString(buffer, 0, read));
                    continue;
                }
                var head = pending.ToString(0, end);
                pending.Remove(0, end + 4);
                Requests.Enqueue(head);
                // Read the body too: closing a socket with unread data sends RST, not FIN.
                var length = ContentLength(head);
                while (pending.Length < length)
                {
                    var read = await connection.ReceiveAsync(buffer, SocketFlags.None, _stop.Token);
                    if (read == 0)
                    {
                        return;
                    }
                    pending.Append(Encoding.Latin1.GetString(buffer, 0, read));
                }
                pending.Remove(0, length);
                if (_behaviour == TcpInstanceBehaviour.AnswerOnceThenClose && answered++ == 0)
                {
                    var body = Encoding.UTF8.GetBytes(Name);
                    await connection.SendAsync(Encoding.ASCII.GetBytes($"HTTP/1.1 200 OK\r\nContent-Length: {body.Length}\r\n\r\n").Concat(body).ToArray(),
                        SocketFlags.None, _stop.Token);
                    continue;
                }
                if (_behaviour == TcpInstanceBehaviour.ResetWithoutAnswer)
                {
                    connection.LingerState = new LingerOption(true, 0);
                }
                break;
            }
        }
        catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
        {
        }
        finally
        {
            // Close, not Shutdown: with linger 0 the kernel sends RST instead of FIN.
            connection.Close();
        }
    }

    private static int ContentLength(string head) =>
        head.Split("\r\n").Select(line => line.Split(':', 2)).Where(p => p.Length == 2 && p[0].Trim().Equals("Content-Length", StringComparison.OrdinalIgnoreCase))
            .Select(p => int.Parse(p[1].Trim(), System.Globalization.CultureInfo.InvariantCulture)).FirstOrDefault();

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Dispose();
        await _accepting;
        _stop.Dispose();
    }
}
