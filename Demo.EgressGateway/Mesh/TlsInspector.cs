using System.Buffers;
using System.Buffers.Binary;
using System.Globalization;
using System.IO.Pipelines;
using System.Text;

namespace Demo.EgressGateway.Mesh;

/// <summary>What <see cref="TlsInspector.Inspect"/> decided from the bytes seen so far.</summary>
public enum TlsInspection
{
    /// <summary>The bytes so far are the start of a ClientHello; read more and inspect again.</summary>
    NeedMoreData,
    /// <summary>A complete ClientHello: Envoy's detected transport protocol <c>tls</c>.</summary>
    Tls,
    /// <summary>Not TLS (the first byte is not a handshake record): Envoy's transport protocol <c>raw_buffer</c>.</summary>
    RawBuffer,
}

/// <summary>What a ClientHello asks for.</summary>
/// <param name="ServerName">The server_name extension's host_name (SNI) as sent; null without the extension.</param>
/// <param name="ApplicationProtocols">The ALPN protocol names (extension 16) in the client's order; empty without it.</param>
public sealed record ClientHello(string? ServerName, IReadOnlyList<string> ApplicationProtocols);

/// <summary>
/// Envoy's <c>envoy.filters.listener.tls_inspector</c> (envoy <c>source/extensions/filters/listener/tls_inspector/tls_inspector.cc</c>):
/// peeks at the first bytes of a connection, without consuming them, to tell TLS from plain text and to read the
/// ClientHello's SNI and ALPN for filter chain matching. Envoy lets BoringSSL parse the ClientHello; this parses
/// the TLS 1.0–1.3 framing itself (RFC 8446 §5.1 records, §4.1.2 ClientHello, RFC 6066 §3 server_name,
/// RFC 7301 §3.1 ALPN), refusing what BoringSSL refuses in those fields (e.g. a duplicate extension, a second SNI entry).
/// </summary>
public static class TlsInspector
{
    /// <summary>Envoy's <c>max_client_hello_size</c> default (<c>TLS_MAX_CLIENT_HELLO</c>): 64 KiB, record headers included.</summary>
    public const int MaxClientHelloSize = 64 * 1024;

    private const byte HandshakeRecord = 0x16;
    private const byte ClientHelloType = 1;
    private const int RecordHeaderSize = 5;
    private const int MaxRecordPayload = 1 << 14; // RFC 8446 §5.1: TLSPlaintext.length MUST NOT exceed 2^14
    private const ushort ServerNameExtension = 0;
    private const ushort AlpnExtension = 16;
    private const string MalformedPrefix = "Malformed TLS ClientHello: ";

    /// <summary>
    /// Decides from the bytes a connection has received so far (peeked, never consumed). A first byte other than
    /// 0x16 (handshake record) is <see cref="TlsInspection.RawBuffer"/> at once; a prefix of a ClientHello, which may
    /// span several handshake records, is <see cref="TlsInspection.NeedMoreData"/>; a complete one is
    /// <see cref="TlsInspection.Tls"/> with <paramref name="hello"/> set (else it is null). Bytes after the ClientHello
    /// are ignored.
    /// </summary>
    /// <exception cref="InvalidDataException">The message gives the reason: a handshake record not carrying a
    /// well-formed ClientHello (another record or handshake type, a bad length, truncated fields or extensions, a
    /// malformed server_name or ALPN), or a ClientHello whose records need more than <see cref="MaxClientHelloSize"/>
    /// bytes (Envoy: <c>client_hello_too_large</c>, connection closed). On a malformed ClientHello Envoy closes the
    /// connection only with <c>close_connection_on_client_hello_parsing_errors: true</c>; by default it carries on as
    /// <c>raw_buffer</c> (<c>tls_not_found</c>): the caller chooses.</exception>
    public static TlsInspection Inspect(ReadOnlySequence<byte> buffer, out ClientHello? hello)
    {
        hello = null;
        if (!new SequenceReader<byte>(buffer).TryPeek(out var first) || first != HandshakeRecord)
        {
            return buffer.IsEmpty ? TlsInspection.NeedMoreData : TlsInspection.RawBuffer;
        }
        var rawLength = (int)Math.Min(buffer.Length, MaxClientHelloSize);
        // The records as received, then their payloads (the handshake message) joined.
        var rented = ArrayPool<byte>.Shared.Rent(2 * rawLength);
        var raw = rented.AsSpan(0, rawLength);
        var message = rented.AsSpan(rawLength, rawLength);
        try
        {
            buffer.Slice(0, rawLength).CopyTo(raw);
            // helloLength: the handshake message's length, its 4-byte header included, once known.
            int position = 0, messageLength = 0, helloLength = -1;
            while (helloLength < 0 || messageLength < helloLength)
            {
                if (position + RecordHeaderSize > rawLength)
                {
                    return NeedMore(rawLength);
                }
                var record = raw.Slice(position, RecordHeaderSize);
                Check(record[0] == HandshakeRecord, "a record of type {0} inside the ClientHello", record[0]);
                Check(record[1] == 3, "record version {0}.{1} is not TLS (3.x)", record[1], record[2]);
                var payloadLength = BinaryPrimitives.ReadUInt16BigEndian(record[3..]);
                Check(payloadLength is > 0 and <= MaxRecordPayload, "a handshake record of {0} bytes (1 to 16384 allowed)", payloadLength);
                var available = Math.Min(payloadLength, rawLength - position - RecordHeaderSize);
                raw.Slice(position + RecordHeaderSize, available).CopyTo(message[messageLength..]);
                messageLength += available;
                if (helloLength < 0 && messageLength >= 4)
                {
                    Check(message[0] == ClientHelloType, "handshake message type {0} where a ClientHello (1) must come first", message[0]);
                    helloLength = 4 + (message[1] << 16 | message[2] << 8 | message[3]);
                    if (helloLength > MaxClientHelloSize)
                    {
                        throw TooLarge();
                    }
                }
                if (available < payloadLength && (helloLength < 0 || messageLength < helloLength))
                {
                    return NeedMore(rawLength);
                }
                position += RecordHeaderSize + payloadLength;
            }
            hello = Parse(message[4..helloLength]);
            return TlsInspection.Tls;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(rented);
        }
    }

    // Envoy: still wanting bytes once max_client_hello_size have been read is client_hello_too_large.
    private static TlsInspection NeedMore(int rawLength) => rawLength >= MaxClientHelloSize ? throw TooLarge() : TlsInspection.NeedMoreData;

    private static InvalidDataException TooLarge() =>
        new($"ClientHello too large: its records need more than max_client_hello_size ({MaxClientHelloSize} bytes)");

    // The reason is formatted only when the check fails.
    private static void Check(bool ok, string reason, int arg0 = 0, int arg1 = 0)
    {
        if (!ok)
        {
            throw new InvalidDataException(MalformedPrefix + string.Format(CultureInfo.InvariantCulture, reason, arg0, arg1));
        }
    }

    // RFC 8446 §4.1.2: legacy_version, random, legacy_session_id<0..32>, cipher_suites<2..2^16-2>,
    // legacy_compression_methods<1..2^8-1>, then extensions<8..2^16-1> (absent in a TLS 1.0–1.2 hello without any).
    private static ClientHello Parse(ReadOnlySpan<byte> body)
    {
        var reader = new Reader(body, "ClientHello");
        reader.Take(2 + 32, "legacy_version and random");
        var sessionId = reader.Vector8("legacy_session_id").Length;
        Check(sessionId <= 32, "a legacy_session_id of {0} bytes (at most 32)", sessionId);
        var suites = reader.Vector16("cipher_suites").Length;
        Check(suites >= 2 && suites % 2 == 0, "a cipher_suites list of {0} bytes", suites);
        Check(reader.Vector8("legacy_compression_methods").Length > 0, "an empty legacy_compression_methods list");
        string? serverName = null;
        IReadOnlyList<string> protocols = [];
        var extensions = new Reader(reader.IsEmpty ? [] : reader.Vector16("extensions"), "extension list");
        reader.End("ClientHello");
        var seen = new HashSet<ushort>();
        while (!extensions.IsEmpty)
        {
            var type = extensions.UInt16("extension type");
            var data = extensions.Vector16("extension", type);
            Check(seen.Add(type), "extension {0} appears twice", type);
            serverName = type == ServerNameExtension ? ParseServerName(data) : serverName;
            protocols = type == AlpnExtension ? ParseAlpn(data) : protocols;
        }
        return new ClientHello(serverName, protocols);
    }

    // RFC 6066 §3 as BoringSSL reads it: exactly one entry, of type host_name (0), 1 to 255 bytes, no NUL byte.
    private static string ParseServerName(ReadOnlySpan<byte> data)
    {
        var extension = new Reader(data, "server_name extension");
        var list = new Reader(extension.Vector16("server_name_list"), "server_name_list");
        extension.End("server_name extension");
        var nameType = list.UInt8("server_name name_type");
        var name = list.Vector16("host_name");
        list.End("server_name_list (only one name is accepted)");
        Check(nameType == 0 && name.Length is > 0 and <= 255 && !name.Contains((byte)0),
            "server_name entry of type {0} and {1} bytes is not a host_name", nameType, name.Length);
        return Encoding.Latin1.GetString(name);
    }

    // RFC 7301 §3.1: ProtocolNameList protocol_name_list<2..2^16-1>, each ProtocolName<1..2^8-1>.
    private static List<string> ParseAlpn(ReadOnlySpan<byte> data)
    {
        var extension = new Reader(data, "ALPN extension");
        var list = new Reader(extension.Vector16("protocol_name_list"), "protocol_name_list");
        extension.End("ALPN extension");
        Check(!list.IsEmpty, "an empty ALPN protocol_name_list");
        var protocols = new List<string>();
        while (!list.IsEmpty)
        {
            var name = list.Vector8("ALPN protocol name");
            Check(name.Length > 0, "an empty ALPN protocol name");
            protocols.Add(Encoding.UTF8.GetString(name));
        }
        return protocols;
    }

    // Reads TLS presentation-language fields (RFC 8446 §3); names them in the error only when one is cut short.
    private ref struct Reader(ReadOnlySpan<byte> data, string what)
    {
        private ReadOnlySpan<byte> _rest = data;

        public readonly bool IsEmpty => _rest.IsEmpty;
        public byte UInt8(string field) => Take(1, field)[0];
        public ushort UInt16(string field) => BinaryPrimitives.ReadUInt16BigEndian(Take(2, field));
        public ReadOnlySpan<byte> Vector8(string field) => Take(Take(1, field, part: " length")[0], field);
        public ReadOnlySpan<byte> Vector16(string field, int tag = -1) =>
            Take(BinaryPrimitives.ReadUInt16BigEndian(Take(2, field, tag, " length")), field, tag);

        public readonly void End(string field)
        {
            if (!_rest.IsEmpty)
            {
                throw new InvalidDataException($"{MalformedPrefix}{_rest.Length} unexpected bytes after the {field}");
            }
        }

        public ReadOnlySpan<byte> Take(int count, string field, int tag = -1, string part = "")
        {
            if (_rest.Length < count)
            {
                throw new InvalidDataException(
                    $"{MalformedPrefix}{field}{(tag >= 0 ? $" {tag}" : "")}{part} ({count} bytes) is truncated: {_rest.Length} bytes left in the {what}");
            }
            var taken = _rest[..count];
            _rest = _rest[count..];
            return taken;
        }
    }

    /// <summary>
    /// The listener filter on a connection: reads until the first bytes decide (never consuming them), for at most
    /// Envoy's <c>listener_filters_timeout</c>; <see cref="TlsInspection.NeedMoreData"/> then means "close the connection".
    /// </summary>
    public static async Task<(TlsInspection, ClientHello?)> InspectAsync(Microsoft.AspNetCore.Connections.ConnectionContext connection, ILogger logger)
    {
        var input = connection.Transport.Input;
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(connection.ConnectionClosed);
        timeout.CancelAfter(GatewayConnectionHandler.ListenerFiltersTimeout);
        while (true)
        {
            ReadResult result;
            try
            {
                result = await input.ReadAsync(timeout.Token);
            }
            catch (OperationCanceledException)
            {
                return (TlsInspection.NeedMoreData, null);
            }
            TlsInspection inspection;
            ClientHello? hello;
            try
            {
                inspection = Inspect(result.Buffer, out hello);
            }
            catch (InvalidDataException ex)
            {
                // tls_inspector.cc: a ClientHello too large closes the connection; one it cannot parse counts
                // tls_not_found and the connection goes on as raw_buffer (close_connection_on_client_hello_parsing_errors
                // is off by default).
                input.AdvanceTo(result.Buffer.Start);
                Log.ClientHelloRejected(logger, ex.Message);
                return ex.Message.Contains("too large", StringComparison.Ordinal) ? (TlsInspection.NeedMoreData, null) : (TlsInspection.RawBuffer, null);
            }
            if (inspection != TlsInspection.NeedMoreData)
            {
                // Nothing is consumed: the handshake or the HTTP codec reads the same bytes next.
                input.AdvanceTo(result.Buffer.Start);
                return (inspection, hello);
            }
            input.AdvanceTo(result.Buffer.Start, result.Buffer.End);
            if (result.IsCompleted)
            {
                return (TlsInspection.NeedMoreData, null);
            }
        }
    }
}
