using System.Buffers;
using Microsoft.AspNetCore.Connections;

namespace Demo.CfRouter;

/// <summary>
/// What the HTTPS port does with plain HTTP, as gorouter's Go server does (net/http server.go <c>serve</c>: a TLS
/// <c>RecordHeaderError</c> whose five bytes look like HTTP — <c>tlsRecordHeaderLooksLikeHTTP</c>: "GET /", "HEAD ",
/// "POST ", "PUT /", "OPTIO" — is answered <c>HTTP/1.0 400 Bad Request</c> with the body
/// <c>Client sent an HTTP request to an HTTPS server.</c> and closed). Anything else goes on to the TLS handshake.
/// </summary>
public static class PlainHttpOnTlsPort
{
    /// <summary>Go's answer, byte for byte.</summary>
    public static readonly byte[] Answer = "HTTP/1.0 400 Bad Request\r\n\r\nClient sent an HTTP request to an HTTPS server.\n"u8.ToArray();

    private static readonly string[] HttpStarts = ["GET /", "HEAD ", "POST ", "PUT /", "OPTIO"];

    /// <summary>Connection middleware for the HTTPS port, placed before its TLS: peeks at the first five bytes.</summary>
    public static ConnectionDelegate Use(ConnectionDelegate next) => async connection =>
    {
        var input = connection.Transport.Input;
        while (true)
        {
            var result = await input.ReadAsync(connection.ConnectionClosed);
            var buffer = result.Buffer;
            if (buffer.Length >= 5 || result.IsCompleted)
            {
                var head = System.Text.Encoding.ASCII.GetString(buffer.Slice(0, Math.Min(buffer.Length, 5)).ToArray());
                input.AdvanceTo(buffer.Start);
                if (HttpStarts.Contains(head))
                {
                    await connection.Transport.Output.WriteAsync(Answer, connection.ConnectionClosed);
                    await connection.Transport.Output.CompleteAsync();
                    return;
                }
                break;
            }
            input.AdvanceTo(buffer.Start, buffer.End);
        }
        await next(connection);
    };
}
