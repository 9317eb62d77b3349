using System.Buffers;
using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using YamlDotNet.Core;
using YamlDotNet.Core.Events;

namespace Demo.EgressGateway.Istio;

/// <summary>
/// One YAML document as JSON, the way <c>kubectl apply</c> sends it to the API server (plain scalars typed by the YAML
/// 1.2 core schema, quoted ones strings), with the mistakes no JSON can hold (a key twice, a key that is not a
/// string) to report once the resource is known. The line of a field is found only when a diagnostic needs one: the
/// file is read again, keeping lines (a configuration without mistakes never is).
/// </summary>
internal sealed class YamlJsonDocument(int line, int index, Lazy<List<Dictionary<string, int>>>? fileLines, JsonDocument? json) : IDisposable
{
    /// <summary>The document's value; <see cref="JsonValueKind.Null"/> for an empty document.</summary>
    public JsonElement Root => json?.RootElement ?? default;

    /// <summary>The line the document starts on.</summary>
    public int Line { get; } = line;

    /// <summary>Keys twice and keys that are not strings: path and message, with their line.</summary>
    public List<(string Path, string Message, int Line)> KeyErrors { get; } = [];

    /// <summary>The line of the field at <paramref name="path"/> (<c>spec.http[0].route</c>), or of its nearest parent present.</summary>
    public int LineOf(string path)
    {
        var lines = fileLines?.Value[index];
        for (var at = path; at.Length > 0; at = Parent(at))
        {
            if (lines is not null && lines.TryGetValue(at, out var found))
            {
                return found;
            }
        }
        return Line;
    }

    // spec.http[0].route → spec.http[0] → spec.http → spec → "".
    private static string Parent(string path)
    {
        var cut = Math.Max(path.LastIndexOf('.'), path.EndsWith(']') ? path.LastIndexOf('[') : -1);
        return cut <= 0 ? "" : path[..cut];
    }

    public void Dispose() => json?.Dispose();
}

/// <summary>
/// Reads a YAML stream into <see cref="YamlJsonDocument"/>s in one pass of the parser, written straight to UTF-8 JSON,
/// refusing what could make a small file expensive — aliases (a small file multiplied into a huge tree) and nesting
/// deeper than <see cref="MaxDepth"/> — before anything is built from it.
/// </summary>
internal static partial class YamlJsonReader
{
    public const int MaxDepth = 32;

    [ThreadStatic]
    private static ArrayBufferWriter<byte>? t_buffer;

    [ThreadStatic]
    private static Utf8JsonWriter? t_writer;

    // A thread keeps a buffer the size of an ordinary document; one grown by a large document goes with it.
    private const int RetainedBufferBytes = 256 * 1024;

    private static void ReleaseLargeBuffer()
    {
        if (t_buffer is { Capacity: > RetainedBufferBytes })
        {
            t_buffer = null;
            t_writer = null;
        }
    }

    [GeneratedRegex("^[-+]?[0-9]+$", RegexOptions.CultureInvariant)]
    private static partial Regex Integer();

    [GeneratedRegex(@"^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$", RegexOptions.CultureInvariant)]
    private static partial Regex Float();

    /// <summary>The documents of <paramref name="yaml"/>, or the message and line of why the file is not read at all.</summary>
    public static (List<YamlJsonDocument> Documents, string? Error, int Line) Read(string yaml)
    {
        var lines = new Lazy<List<Dictionary<string, int>>>(() => Lines(yaml), LazyThreadSafetyMode.None);
        var parser = new Parser(new StringReader(yaml));
        var documents = new List<YamlJsonDocument>();
        // The JSON of one document at a time is written to this thread's buffer, then copied out for its JsonDocument.
        var buffer = t_buffer ??= new ArrayBufferWriter<byte>(4096);
        var writer = t_writer ??= new Utf8JsonWriter(buffer, new JsonWriterOptions { SkipValidation = true });
        try
        {
            parser.Consume<StreamStart>();
            while (parser.TryConsume<DocumentStart>(out var start))
            {
                buffer.ResetWrittenCount();
                writer.Reset(buffer);
                var keyErrors = new List<(string, string, int)>();
                new Builder(parser, writer, keyErrors, null).Node(0);
                writer.Flush();
                parser.Consume<DocumentEnd>();
                var document = new YamlJsonDocument((int)start.Start.Line, documents.Count, lines, JsonDocument.Parse(buffer.WrittenMemory.ToArray()));
                document.KeyErrors.AddRange(keyErrors);
                documents.Add(document);
            }
            parser.Consume<StreamEnd>();
            ReleaseLargeBuffer();
            return (documents, null, 0);
        }
        catch (Exception ex) when (ex is RefusedYamlException or YamlException or InvalidOperationException)
        {
            documents.ForEach(d => d.Dispose());
            ReleaseLargeBuffer();
            return ex switch
            {
                RefusedYamlException refused => ([], refused.Message, refused.Line),
                YamlException yamlError => ([], $"is not valid YAML: {yamlError.Message}", (int)yamlError.Start.Line),
                // YamlDotNet throws this (not a YamlException) for some broken streams, e.g. "...\n%YAML 1.1\n".
                _ => ([], $"is not valid YAML: {ex.Message}", parser.Current is { } current ? (int)Math.Max(1, current.End.Line) : 1),
            };
        }
    }

    // The same documents again, with the line of every field by its path (the stream was read once without error).
    private static List<Dictionary<string, int>> Lines(string yaml)
    {
        var parser = new Parser(new StringReader(yaml));
        var result = new List<Dictionary<string, int>>();
        parser.Consume<StreamStart>();
        while (parser.TryConsume<DocumentStart>(out _))
        {
            var lines = new Dictionary<string, int>(StringComparer.Ordinal);
            new Builder(parser, null, [], lines).Node(0);
            parser.Consume<DocumentEnd>();
            result.Add(lines);
        }
        return result;
    }

    private sealed class RefusedYamlException(string message, long line) : Exception(message)
    {
        public int Line { get; } = (int)line;
    }

    // Writes one document's nodes (to writer, unless null); the path (keys and indexes) is kept as a stack and spelled
    // out only for an error, or for every node when lines are wanted.
    private sealed class Builder(IParser parser, Utf8JsonWriter? writer, List<(string, string, int)> keyErrors, Dictionary<string, int>? lines)
    {
        private readonly List<(string? Key, int Index)> _path = [];

        // The keys seen in the mapping open at each depth (a mapping's members are one level deeper, so a set is
        // reused only once its mapping has ended).
        private readonly List<HashSet<string>> _keys = [];

        private HashSet<string> KeysAt(int depth)
        {
            while (_keys.Count <= depth)
            {
                _keys.Add(new HashSet<string>(StringComparer.Ordinal));
            }
            _keys[depth].Clear();
            return _keys[depth];
        }

        public void Node(int depth, bool write = true)
        {
            var current = parser.Current;
            var output = write ? writer : null;
            switch (current)
            {
                case AnchorAlias alias:
                    throw new RefusedYamlException($"uses the YAML alias '*{alias.Value}'; anchors and aliases are not accepted", alias.Start.Line);
                case Scalar scalar:
                    parser.MoveNext();
                    if (output is not null)
                    {
                        WriteScalar(output, scalar);
                    }
                    return;
                case SequenceStart:
                    CheckDepth(depth, current);
                    parser.MoveNext();
                    output?.WriteStartArray();
                    for (var index = 0; !parser.TryConsume<SequenceEnd>(out _); index++)
                    {
                        _path.Add((null, index));
                        Record((int)parser.Current!.Start.Line);
                        Node(depth + 1, write);
                        _path.RemoveAt(_path.Count - 1);
                    }
                    output?.WriteEndArray();
                    return;
                case MappingStart:
                    CheckDepth(depth, current);
                    parser.MoveNext();
                    output?.WriteStartObject();
                    var keys = KeysAt(depth);
                    while (!parser.TryConsume<MappingEnd>(out _))
                    {
                        Member(keys, depth, write);
                    }
                    output?.WriteEndObject();
                    return;
                default:
                    throw new YamlException(current!.Start, current.End, $"unexpected {current.GetType().Name}");
            }
        }

        private void Member(HashSet<string> keys, int depth, bool write)
        {
            var keyEvent = parser.Current!;
            var line = (int)keyEvent.Start.Line;
            string? key = null;
            if (keyEvent is Scalar scalar)
            {
                key = scalar.Value;
                parser.MoveNext();
            }
            else
            {
                keyErrors.Add((Path(null), "has a key that is not a plain string", line));
                Node(depth + 1, write: false);
            }
            var twice = key is not null && !keys.Add(key);
            if (twice)
            {
                keyErrors.Add((Path(key), "appears twice", line));
            }
            var kept = write && key is not null && !twice;
            if (kept && writer is not null)
            {
                writer.WritePropertyName(key!);
            }
            _path.Add((key ?? "?", 0));
            if (kept)
            {
                Record(line);
            }
            Node(depth + 1, kept);
            _path.RemoveAt(_path.Count - 1);
        }

        private void Record(int line)
        {
            if (lines is not null)
            {
                lines.TryAdd(Path(null), line);
            }
        }

        private static void CheckDepth(int depth, ParsingEvent current)
        {
            if (depth >= MaxDepth)
            {
                throw new RefusedYamlException($"nests deeper than {MaxDepth} levels", current.Start.Line);
            }
        }

        private string Path(string? last)
        {
            var text = new StringBuilder();
            foreach (var (key, index) in _path)
            {
                _ = key is null ? text.Append('[').Append(index).Append(']') : (text.Length > 0 ? text.Append('.') : text).Append(key);
            }
            if (last is not null)
            {
                (text.Length > 0 ? text.Append('.') : text).Append(last);
            }
            return text.ToString();
        }
    }

    // A quoted scalar (or one tagged !!str) is a string; a plain one is null, a boolean, a number or a string.
    private static void WriteScalar(Utf8JsonWriter writer, Scalar scalar)
    {
        var value = scalar.Value;
        if (scalar.Style is not (ScalarStyle.Plain or ScalarStyle.Any) || (!scalar.Tag.IsEmpty && scalar.Tag.Value == "tag:yaml.org,2002:str"))
        {
            writer.WriteStringValue(value);
        }
        else if (value is "" or "~" or "null" or "Null" or "NULL")
        {
            writer.WriteNullValue();
        }
        else if (value is "true" or "True" or "TRUE" or "false" or "False" or "FALSE")
        {
            writer.WriteBooleanValue(value[0] is 't' or 'T');
        }
        else if (Integer().IsMatch(value) && long.TryParse(value, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var integer))
        {
            writer.WriteNumberValue(integer);
        }
        else if (Float().IsMatch(value) && double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out var number) && double.IsFinite(number))
        {
            writer.WriteNumberValue(number);
        }
        else
        {
            writer.WriteStringValue(value);
        }
    }
}
