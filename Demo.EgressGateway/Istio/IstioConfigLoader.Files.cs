using System.Buffers;
using System.Collections.Concurrent;
using System.Text;

namespace Demo.EgressGateway.Istio;

public static partial class IstioConfigLoader
{
    private const int ParallelFromFiles = 64;
    private const int MaxParsedFiles = 50_000;

    // The last parse of each file read, by path, with the text it was parsed from. Its bound is kept in a counter:
    // ConcurrentDictionary.Count takes every lock of the table.
    private static readonly ConcurrentDictionary<string, (string Text, IstioConfigSet Set)> Parsed = new(StringComparer.Ordinal);
    private static int _parsedFiles;

    /// <summary>Reads one file as <see cref="Parse"/> reads its text; a file over 1 MiB, or one that cannot be read, is an error.</summary>
    public static IstioConfigSet LoadFile(string path)
    {
        var (text, set) = ReadFile(path);
        if (text is null)
        {
            return set!;
        }
        set = Parse(path, text);
        Remember(path, text, set);
        return set;
    }

    // Each file's resources, in the files' order: files are independent, so a large folder is read on every core (one
    // thread per core, no more: more would only wait on each other); a small one on the calling thread.
    private static IstioConfigSet[] LoadFiles(IReadOnlyList<string> files)
    {
        var loaded = new IstioConfigSet[files.Count];
        var options = new ParallelOptions { MaxDegreeOfParallelism = files.Count < ParallelFromFiles ? 1 : Environment.ProcessorCount };
        Rethrowing(() => Parallel.For(0, files.Count, options, i => loaded[i] = LoadFile(files[i])));
        return loaded;
    }

    // A file's text, or (when it needs no parse) its resources: what the last parse of the same text gave, or the error
    // of a file too large or unreadable.
    private static (string? Text, IstioConfigSet? Set) ReadFile(string path)
    {
        try
        {
            if (ReadText(path) is not { } text)
            {
                return (null, FileError(path, $"is {new FileInfo(path).Length} bytes; files over {MaxFileBytes} bytes are refused"));
            }
            // A hot reload re-reads the whole folder: a file whose text is what it was gives what it gave (the records
            // and diagnostics are immutable), so only changed files are parsed again.
            return Parsed.TryGetValue(path, out var previous) && previous.Text == text ? (null, previous.Set) : (text, null);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return (null, FileError(path, $"cannot be read: {ex.Message}"));
        }
    }

    private static IstioConfigSet FileError(string path, string message) =>
        new([], [new(DiagnosticSeverity.Error, path, null, null, message)]);

    private static void Remember(string path, string text, IstioConfigSet set)
    {
        if (!Parsed.TryAdd(path, (text, set)))
        {
            Parsed[path] = (text, set);
        }
        else if (Interlocked.Increment(ref _parsedFiles) > MaxParsedFiles)
        {
            Parsed.Clear();
            Volatile.Write(ref _parsedFiles, 0);
        }
    }

    // Byte order marks as StreamReader (and so File.ReadAllText) detects them, UTF-32 LE before UTF-16 LE.
    private static readonly Encoding[] MarkedEncodings =
        [Encoding.UTF32, new UTF32Encoding(bigEndian: true, byteOrderMark: true), Encoding.UTF8, Encoding.Unicode, Encoding.BigEndianUnicode];

    // The file's text as File.ReadAllText reads it (to its end, UTF-8 unless a byte order mark says otherwise), from one
    // open into a pooled buffer, or null when it is over MaxFileBytes (no more than that is read then).
    private static string? ReadText(string path)
    {
        using var handle = File.OpenHandle(path);
        var buffer = ArrayPool<byte>.Shared.Rent((int)Math.Clamp(RandomAccess.GetLength(handle) + 1, 4096, MaxFileBytes + 1));
        try
        {
            var read = 0;
            while (RandomAccess.Read(handle, buffer.AsSpan(read), read) is > 0 and var count)
            {
                read += count;
                if (read > MaxFileBytes)
                {
                    return null;
                }
                if (read == buffer.Length)
                {
                    var larger = ArrayPool<byte>.Shared.Rent((int)Math.Min(2L * buffer.Length, MaxFileBytes + 1));
                    buffer.AsSpan(0, read).CopyTo(larger);
                    ArrayPool<byte>.Shared.Return(buffer);
                    buffer = larger;
                }
            }
            var bytes = buffer.AsSpan(0, read);
            foreach (var encoding in MarkedEncodings)
            {
                if (bytes.StartsWith(encoding.Preamble))
                {
                    return encoding.GetString(bytes[encoding.Preamble.Length..]);
                }
            }
            return Encoding.UTF8.GetString(bytes);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    // Runs parallel work, throwing its first failure as the work itself threw it (as a sequential load would have).
    private static void Rethrowing(Action work)
    {
        try
        {
            work();
        }
        catch (AggregateException ex) when (ex.InnerExceptions.Count > 0)
        {
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(ex.InnerExceptions[0]).Throw();
            throw;
        }
    }
}
