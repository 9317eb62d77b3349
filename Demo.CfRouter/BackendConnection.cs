using System.Net;
using System.Net.Sockets;

namespace Demo.CfRouter;

/// <summary>
/// The router's TCP connections to app instances, so that a failed exchange reads as gorouter reports it and is retried
/// only as Go's HTTP/1.1 transport retries it (gorouter's backend <c>http.Transport</c>, <c>proxy/proxy.go</c>).
/// <para>
/// Go's transport peeks the first byte of a response (<c>persistConn.readLoop</c>). When the instance closes the
/// connection or the read fails before that byte, the request fails with that very error: <c>io.EOF</c>, whose text is
/// <c>EOF</c>, or a <c>*net.OpError</c> such as <c>read tcp 127.0.0.1:41234-&gt;127.0.0.1:5001: read: connection reset by peer</c>
/// (router's address, then the instance's). <see cref="BackendConnectionException"/> carries that text. It is deliberately
/// not an <see cref="IOException"/>: SocketsHttpHandler would retry an I/O failure before the first response byte on a
/// new connection up to three times, for any request, where Go retries only a replayable request whose connection had
/// already carried one (<c>persistConn.shouldRetryRequest</c>); <see cref="GorouterHandler"/> does that retry itself.
/// </para>
/// </summary>
internal static class BackendConnection
{
    /// <summary>SocketsHttpHandler's <c>ConnectCallback</c>: a TCP connection (no delay, as Go's dialer) wrapped in <see cref="BackendStream"/>.</summary>
    public static async ValueTask<Stream> ConnectAsync(SocketsHttpConnectionContext context, CancellationToken cancellationToken)
    {
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            await socket.ConnectAsync(context.DnsEndPoint, cancellationToken);
            return new BackendStream(socket);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    /// <summary>An address as Go's <c>net.TCPAddr</c> prints it: <c>127.0.0.1:5001</c>, <c>[::1]:5001</c>; IPv4-mapped IPv6 as IPv4.</summary>
    public static string GoAddress(EndPoint? endPoint) => endPoint switch
    {
        IPEndPoint { Address.IsIPv4MappedToIPv6: true } ip => new IPEndPoint(ip.Address.MapToIPv4(), ip.Port).ToString(),
        IPEndPoint ip => ip.ToString(),
        null => "",
        _ => endPoint.ToString() ?? "",
    };

    /// <summary>The Linux errno text Go prints for a socket error (<c>syscall.Errno.Error</c>), e.g. <c>connection reset by peer</c>.</summary>
    public static string GoErrno(SocketError error) => error switch
    {
        SocketError.ConnectionReset => "connection reset by peer",
        SocketError.ConnectionRefused => "connection refused",
        SocketError.ConnectionAborted => "software caused connection abort",
        SocketError.TimedOut => "connection timed out",
        SocketError.NetworkUnreachable => "network is unreachable",
        SocketError.HostUnreachable => "no route to host",
        SocketError.NetworkDown => "network is down",
        SocketError.Shutdown => "broken pipe",
        _ => error.ToString(),
    };
}

/// <summary>
/// The instance's connection failed before the first byte of a response: <see cref="Exception.Message"/> is Go's error
/// text (<c>EOF</c>, or <c>read tcp &lt;router&gt;-&gt;&lt;instance&gt;: read: &lt;errno text&gt;</c>).
/// </summary>
public sealed class BackendConnectionException(string goError, bool endOfStream, SocketError? socketError, bool reused, Exception? inner)
    : Exception(goError, inner)
{
    /// <summary>The instance closed the connection (Go's <c>io.EOF</c>), as opposed to a read error.</summary>
    public bool EndOfStream { get; } = endOfStream;

    /// <summary>The read's socket error, when it was one, e.g. <see cref="SocketError.ConnectionReset"/>.</summary>
    public SocketError? SocketError { get; } = socketError;

    /// <summary>The connection had carried an earlier request (Go's <c>persistConn.isReused</c>).</summary>
    public bool Reused { get; } = reused;
}

/// <summary>A read error on an instance's connection after its response began, with Go's <c>*net.OpError</c> text.</summary>
public sealed class BackendReadIOException(string goError, SocketError socketError, Exception inner) : IOException(goError, inner)
{
    public SocketError SocketError { get; } = socketError;
}

/// <summary>
/// A connection to an instance that knows whether a request is waiting for the first byte of its response: set by a
/// write, cleared by a read that returns data. HTTP/1.1 as SocketsHttpHandler speaks it writes a request only after
/// the previous response was read.
/// </summary>
internal sealed class BackendStream(Socket socket) : Stream
{
    private readonly NetworkStream _inner = new(socket, ownsSocket: true);
    private readonly string _local = BackendConnection.GoAddress(socket.LocalEndPoint);
    private readonly string _remote = BackendConnection.GoAddress(socket.RemoteEndPoint);
    private volatile bool _awaitingResponse;
    private int _requests;

    public override bool CanRead => true;
    public override bool CanWrite => true;
    public override bool CanSeek => false;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        int read;
        try
        {
            read = await _inner.ReadAsync(buffer, cancellationToken);
        }
        catch (IOException e) when (e.InnerException is SocketException socketError)
        {
            throw ReadFailed(socketError.SocketErrorCode, e);
        }
        return Received(read, buffer.Length);
    }

    public override int Read(Span<byte> buffer)
    {
        int read;
        try
        {
            read = _inner.Read(buffer);
        }
        catch (IOException e) when (e.InnerException is SocketException socketError)
        {
            throw ReadFailed(socketError.SocketErrorCode, e);
        }
        return Received(read, buffer.Length);
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        Sending(buffer.Length);
        return _inner.WriteAsync(buffer, cancellationToken);
    }

    public override void Write(ReadOnlySpan<byte> buffer)
    {
        Sending(buffer.Length);
        _inner.Write(buffer);
    }

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

    public override void Flush() => _inner.Flush();
    public override Task FlushAsync(CancellationToken cancellationToken) => _inner.FlushAsync(cancellationToken);
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _inner.Dispose();
        }
        base.Dispose(disposing);
    }

    public override ValueTask DisposeAsync()
    {
        GC.SuppressFinalize(this);
        return _inner.DisposeAsync();
    }

    private void Sending(int count)
    {
        if (count > 0 && !_awaitingResponse)
        {
            _requests++;
            _awaitingResponse = true;
        }
    }

    // A zero-byte read (SocketsHttpHandler's read-ahead on an idle connection) says nothing about the response.
    private int Received(int read, int requested)
    {
        if (read > 0)
        {
            _awaitingResponse = false;
        }
        else if (requested > 0 && _awaitingResponse)
        {
            throw new BackendConnectionException("EOF", endOfStream: true, socketError: null, reused: _requests > 1, inner: null);
        }
        return read;
    }

    private Exception ReadFailed(SocketError error, IOException exception)
    {
        var text = $"read tcp {_local}->{_remote}: read: {BackendConnection.GoErrno(error)}";
        return _awaitingResponse
            ? new BackendConnectionException(text, endOfStream: false, error, reused: _requests > 1, exception)
            : new BackendReadIOException(text, error, exception);
    }
}
