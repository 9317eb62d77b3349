using System.Buffers;
using System.Buffers.Binary;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using Demo.EgressGateway.Mesh;

namespace Demo.EgressGateway.Tests;

/// <summary>
/// The TLS inspector reads real ClientHellos (captured from SslStream) as Envoy's tls_inspector does: SNI and ALPN
/// in the client's order, NeedMoreData for any prefix, however the bytes are segmented or fragmented into records;
/// plain text is raw_buffer at once, a malformed ClientHello is refused with the reason.
/// </summary>
public sealed class TlsInspectorTests
{
    private const string Host = "hello-istio-v1.apps.example.com";
    private static readonly string[] IstioAlpn = ["istio-peer-exchange", "istio"];
    private static readonly Lazy<Task<byte[]>> Captured = new(() => CaptureClientHelloAsync(Host));

    [Fact]
    public async Task A_real_ClientHello_is_TLS_with_its_SNI_and_ALPN_in_order()
    {
        var bytes = await Captured.Value;
        Assert.Equal(TlsInspection.Tls, TlsInspector.Inspect(new ReadOnlySequence<byte>(bytes), out var hello));
        Assert.Equal(Host, hello!.ServerName);
        Assert.Equal(IstioAlpn, hello.ApplicationProtocols);
    }

    [Fact]
    public async Task Every_strict_prefix_needs_more_data_and_every_two_segment_split_is_read()
    {
        var bytes = await Captured.Value;
        for (var length = 0; length < bytes.Length; length++)
        {
            Assert.Equal(TlsInspection.NeedMoreData, TlsInspector.Inspect(new ReadOnlySequence<byte>(bytes, 0, length), out var none));
            Assert.Null(none);
        }
        for (var split = 1; split < bytes.Length; split++)
        {
            Assert.Equal(TlsInspection.Tls, TlsInspector.Inspect(TwoSegments(bytes, split), out var hello));
            Assert.Equal(Host, hello!.ServerName);
            Assert.Equal(IstioAlpn, hello.ApplicationProtocols);
        }
    }

    [Fact]
    public async Task A_ClientHello_fragmented_over_many_records_is_read_once_complete()
    {
        var fragmented = Reframe(await Captured.Value, fragment: 7);
        Assert.Equal(TlsInspection.Tls, TlsInspector.Inspect(new ReadOnlySequence<byte>(fragmented), out var hello));
        Assert.Equal(Host, hello!.ServerName);
        Assert.Equal(IstioAlpn, hello.ApplicationProtocols);
        for (var length = 0; length < fragmented.Length; length++)
        {
            Assert.Equal(TlsInspection.NeedMoreData, TlsInspector.Inspect(new ReadOnlySequence<byte>(fragmented, 0, length), out _));
        }
        // Trailing bytes after the ClientHello (e.g. early data) do not matter.
        Assert.Equal(TlsInspection.Tls, TlsInspector.Inspect(new ReadOnlySequence<byte>([.. fragmented, 0x17, 3, 3, 0, 1, 0]), out _));
    }

    [Fact]
    public void Plain_text_is_raw_buffer_at_once()
    {
        Assert.Equal(TlsInspection.RawBuffer, TlsInspector.Inspect(new ReadOnlySequence<byte>("GET / HTTP/1.1\r\n"u8.ToArray()), out var hello));
        Assert.Null(hello);
        Assert.Equal(TlsInspection.RawBuffer, TlsInspector.Inspect(new ReadOnlySequence<byte>("G"u8.ToArray()), out _));
    }

    [Fact]
    public async Task A_malformed_ClientHello_is_refused_with_the_reason()
    {
        var bytes = await Captured.Value;
        var serverHello = bytes.ToArray();
        serverHello[5] = 2;
        AssertRefused(serverHello, "handshake message type 2");

        var extensionsLength = ExtensionsLengthOffset(bytes);
        var overrun = bytes.ToArray();
        BinaryPrimitives.WriteUInt16BigEndian(overrun.AsSpan(extensionsLength), (ushort)(ReadUInt16(bytes, extensionsLength) + 1));
        AssertRefused(overrun, "extensions (");

        var cut = bytes.ToArray();
        BinaryPrimitives.WriteUInt16BigEndian(cut.AsSpan(extensionsLength), (ushort)(ReadUInt16(bytes, extensionsLength) - 1));
        AssertRefused(cut, "1 unexpected bytes after the ClientHello");

        var garbled = bytes.ToArray();
        BinaryPrimitives.WriteUInt16BigEndian(garbled.AsSpan(extensionsLength + 4), 0xFFFF);
        AssertRefused(garbled, "(65535 bytes) is truncated");

        var interleaved = Reframe(bytes, fragment: 40);
        AssertRefused([.. interleaved[..45], 0x14, 3, 3, 0, 1, 1, .. interleaved[45..]], "a record of type 20");

        AssertRefused([0x16, 3, 1, 0, 4, 1, 0x01, 0x11, 0x71], "too large");
        AssertRefused([0x16, 3, 1, 0, 0], "0 bytes");
    }

    /// <summary>An IP target and an empty one (auto_sni's "no server name" for an IP-literal Host) send no SNI.</summary>
    [Theory]
    [InlineData("127.0.0.1")]
    [InlineData("")]
    public async Task A_ClientHello_without_SNI_has_no_server_name(string targetHost)
    {
        var bytes = await CaptureClientHelloAsync(targetHost);
        Assert.Equal(TlsInspection.Tls, TlsInspector.Inspect(new ReadOnlySequence<byte>(bytes), out var hello));
        Assert.Null(hello!.ServerName);
        Assert.Equal(IstioAlpn, hello.ApplicationProtocols);
    }

    private static void AssertRefused(byte[] bytes, string reason)
    {
        var error = Assert.Throws<InvalidDataException>(() => TlsInspector.Inspect(new ReadOnlySequence<byte>(bytes), out _));
        Assert.Contains(reason, error.Message, StringComparison.Ordinal);
    }

    // What SslStream sends first, read by a server that only reads (until the client has been quiet for a while).
    private static async Task<byte[]> CaptureClientHelloAsync(string targetHost)
    {
        var (client, accepted) = await LoopbackPair.ConnectAsync();
        using var _ = client;
        using var __ = accepted;
        using var ssl = new SslStream(client.GetStream());
        var handshake = ssl.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
        {
            TargetHost = targetHost,
            ApplicationProtocols = [.. IstioAlpn.Select(p => new SslApplicationProtocol(p))],
        });
        var received = new MemoryStream();
        var stream = accepted.GetStream();
        var chunk = new byte[4096];
        using var overall = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        while (true)
        {
            using var quiet = CancellationTokenSource.CreateLinkedTokenSource(overall.Token);
            quiet.CancelAfter(received.Length == 0 ? TimeSpan.FromSeconds(20) : TimeSpan.FromMilliseconds(500));
            try
            {
                var read = await stream.ReadAsync(chunk, quiet.Token);
                if (read == 0)
                {
                    break;
                }
                received.Write(chunk, 0, read);
            }
            catch (OperationCanceledException) when (!overall.IsCancellationRequested)
            {
                break;
            }
        }
        accepted.Close();
        await Assert.ThrowsAnyAsync<Exception>(() => handshake);
        return received.ToArray();
    }

    // The handshake messages of `records`, re-framed into handshake records of at most `fragment` bytes.
    private static byte[] Reframe(byte[] records, int fragment)
    {
        var message = new List<byte>();
        for (var position = 0; position < records.Length; position += 5 + ReadUInt16(records, position + 3))
        {
            message.AddRange(records.AsSpan(position + 5, ReadUInt16(records, position + 3)));
        }
        var framed = new List<byte>();
        foreach (var piece in message.Chunk(fragment))
        {
            framed.AddRange([0x16, 3, 1, (byte)(piece.Length >> 8), (byte)piece.Length, .. piece]);
        }
        return [.. framed];
    }

    // Where the extensions' length is in a one-record ClientHello: after record (5) and handshake (4) headers,
    // version (2), random (32), session id, cipher suites and compression methods.
    private static int ExtensionsLengthOffset(byte[] bytes)
    {
        var offset = 5 + 4 + 2 + 32;
        offset += 1 + bytes[offset];
        offset += 2 + ReadUInt16(bytes, offset);
        offset += 1 + bytes[offset];
        return offset;
    }

    private static ushort ReadUInt16(byte[] bytes, int offset) => BinaryPrimitives.ReadUInt16BigEndian(bytes.AsSpan(offset));

    private static ReadOnlySequence<byte> TwoSegments(byte[] bytes, int split)
    {
        var first = new Segment(bytes.AsMemory(0, split), 0);
        var second = new Segment(bytes.AsMemory(split), split);
        first.SetNext(second);
        return new ReadOnlySequence<byte>(first, 0, second, second.Memory.Length);
    }

    private sealed class Segment : ReadOnlySequenceSegment<byte>
    {
        public Segment(ReadOnlyMemory<byte> memory, long runningIndex)
        {
            Memory = memory;
            RunningIndex = runningIndex;
        }

        public void SetNext(Segment next) => Next = next;
    }
}
