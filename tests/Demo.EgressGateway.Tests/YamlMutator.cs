using System.Text;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace Demo.EgressGateway.Tests;

/// <summary>
/// Makes random, reproducible (seeded) mutations of valid Istio YAML: on the node tree (types swapped, fields
/// dropped or renamed, numbers out of range, huge strings, deep nesting, long lists, tags, odd durations, hosts
/// and regexes) and on the text (random bytes, truncation, duplicated or shuffled lines, aliases, directives,
/// documents repeated). Each call returns the new text and a short description of what was done.
/// </summary>
public sealed class YamlMutator(Random random)
{
    private static readonly string[] Numbers =
    [
        "-1", "0", "1", "65535", "65536", "100", "101", "2147483647", "2147483648", "-2147483649", "9223372036854775807",
        "9223372036854775808", "-9223372036854775809", "99999999999999999999999999999", "1e308", "-1e308", "1e309", ".inf",
        "-.inf", ".nan", "NaN", "1.5", "0.0000001", "1e-320", "0x1F", "0o17", "0b101", "1_000", "+5", "-0", "00", "1,5", "½",
    ];

    private static readonly string[] Durations =
    [
        "0", "0s", "-5s", "5", "1.s", ".5ms", "0.0000001ns", "1ns", "999us", "1µs", "87600h", "87601h", "2562047h",
        "9999999999999h", "1e9h", "1h1h1h1h", "5 s", "5S", "PT5S", "s", "ms", "1.5.5s", "100000000000000000000000000000ms",
        "1d", "1w", "1m30s", "99999999999999999999999999999999999999999999999999999999999999999s", "30d",
    ];

    private static readonly string[] Hosts =
    [
        "*", "*.", "*.*", "**", "", " ", ".", "..", "a..b", "-", "*.external", "*.example.com", "hello.external.",
        "HELLO.EXTERNAL", "hello.external:80", "[::1]", "::1", "127.0.0.1", "localhost", "0.0.0.0", "host/with/slash",
        "ns/hello.external", "./hello.external", "*/hello.external", "hélló.external", "xn--hll-bma.external",
        "hello external", "hello\texternal", "evil.example.com", "istio-egressgateway", "mesh", "~", "null",
    ];

    private static readonly string[] Regexes =
    [
        "(", ")", "[", "a{1000}{1000}", "(a{500}){500}", "(?<=a)b", @"\p{L}+", "(a|aa)*$", "(.*)*(.*)*(.*)*x", "\\",
        "a{2147483647}", "(?i)HELLO", @"\1", "(?<n>a)\\k<n>", "x{0,65536}", "[\\d-z]", "(?#comment)", "^$", ".*",
    ];

    private static readonly string[] Words =
    [
        "true", "false", "yes", "no", "on", "off", "True", "TRUE", "null", "~", "", "SIMPLE", "DISABLE", "MUTUAL",
        "ISTIO_MUTUAL", "simple", "PASSTHROUGH", "HTTP", "HTTPS", "TCP", "UDP", "MESH_INTERNAL", "DNS", "STATIC", "v1", "v2",
        "v3", "5xx", "5xx,gateway-error", "418", "600", "99", "retriable-4xx,,", ",", "connect-failure;reset", "mesh",
        "hello-cf-egress", "istio-system/hello-cf-egress", "other/hello-cf-egress", "Gateway", "ServiceEntry",
        "VirtualService", "DestinationRule", "Sidecar", "networking.istio.io/v1alpha3", "networking.istio.io/v2",
        "v1", "apps/v1", "\u0000", "\u202e", "\uFEFF", "a\nb", "'quoted'", "\"dq\"", "key: value", "- item", "{a: 1}",
        "[1, 2]", "&anchor", "*alias", "!tag", "%", "@", "`", "|", ">",
    ];

    private static readonly string[] Keys =
    [
        "apiVersion", "kind", "metadata", "name", "namespace", "spec", "hosts", "ports", "number", "protocol", "host",
        "subset", "weight", "route", "http", "match", "authority", "exact", "prefix", "regex", "fault", "abort", "delay",
        "httpStatus", "percentage", "value", "percent", "fixedDelay", "timeout", "retries", "attempts", "perTryTimeout",
        "retryOn", "headers", "request", "response", "set", "add", "remove", "trafficPolicy", "portLevelSettings", "tls",
        "mode", "sni", "subjectAltNames", "insecureSkipVerify", "caCertificates", "connectionPool", "tcp", "maxConnections",
        "outlierDetection", "consecutive5xxErrors", "baseEjectionTime", "interval", "gateways", "selector", "servers",
        "rewrite", "uri", "tcp", "mirror", "redirect", "delegate", "status", "labels", "unknownField", "Spec", "hosts ",
        "", "~", "<<", "?", "-", "a.b", "spec.http",
    ];

    public string Mutate(string yaml, out string description)
    {
        var steps = random.Next(10) switch
        {
            < 6 => 1,
            < 8 => 2,
            < 9 => 3,
            _ => 5,
        };
        var parts = new List<string>();
        for (var i = 0; i < steps; i++)
        {
            yaml = MutateOnce(yaml, out var what);
            parts.Add(what);
        }
        description = string.Join(" + ", parts);
        return yaml;
    }

    private string MutateOnce(string yaml, out string description)
    {
        if (random.Next(100) < 60 && yaml.Length < 1_500_000 && TryLoad(yaml) is { } stream)
        {
            description = MutateTree(stream, yaml.Length);
            try
            {
                var writer = new StringWriter();
                stream.Save(writer, assignAnchors: false);
                return writer.ToString();
            }
            catch (Exception ex) when (ex is YamlException or InvalidOperationException or ArgumentException)
            {
                // The serializer cannot write every tree (e.g. a key that is an empty mapping); mutate the text instead.
                description += " (unwritable tree, text instead)";
            }
        }
        return MutateText(yaml, out description);
    }

    private static YamlStream? TryLoad(string yaml)
    {
        try
        {
            // The node builder recurses and aliases share nodes (cloning or writing them expands them): only trees of a
            // sane depth without aliases are mutated as trees (the loader under test refuses the others before building them).
            var parser = new Parser(new StringReader(yaml));
            var depth = 0;
            while (parser.MoveNext())
            {
                if (parser.Current is YamlDotNet.Core.Events.MappingStart or YamlDotNet.Core.Events.SequenceStart && ++depth > 100)
                {
                    return null;
                }
                if (parser.Current is YamlDotNet.Core.Events.MappingEnd or YamlDotNet.Core.Events.SequenceEnd)
                {
                    depth--;
                }
                if (parser.Current is YamlDotNet.Core.Events.AnchorAlias)
                {
                    return null;
                }
            }
            var stream = new YamlStream();
            stream.Load(new StringReader(yaml));
            return stream.Documents.Count > 0 && Nodes(stream).Count > 1 ? stream : null;
        }
        catch (Exception ex) when (ex is YamlException or ArgumentException or InvalidOperationException or InvalidCastException)
        {
            return null;
        }
    }

    private sealed record Slot(YamlNode Node, YamlNode? Parent, YamlNode? Key, int Index);

    private static List<Slot> Nodes(YamlStream stream)
    {
        var result = new List<Slot>();
        var seen = new HashSet<YamlNode>(ReferenceEqualityComparer.Instance);
        void Walk(YamlNode node, YamlNode? parent, YamlNode? key, int index)
        {
            if (!seen.Add(node))
            {
                return;
            }
            result.Add(new Slot(node, parent, key, index));
            switch (node)
            {
                case YamlMappingNode mapping:
                    foreach (var (k, v) in mapping.Children.ToList())
                    {
                        Walk(v, mapping, k, -1);
                    }
                    break;
                case YamlSequenceNode sequence:
                    for (var i = 0; i < sequence.Children.Count; i++)
                    {
                        Walk(sequence.Children[i], sequence, null, i);
                    }
                    break;
            }
        }
        foreach (var document in stream.Documents)
        {
            Walk(document.RootNode, null, null, -1);
        }
        return result;
    }

    private static void Replace(Slot slot, YamlNode replacement, YamlStream stream)
    {
        switch (slot.Parent)
        {
            case YamlMappingNode mapping:
                mapping.Children[slot.Key!] = replacement;
                break;
            case YamlSequenceNode sequence:
                sequence.Children[slot.Index] = replacement;
                break;
            default:
                var index = stream.Documents.ToList().FindIndex(d => ReferenceEquals(d.RootNode, slot.Node));
                if (index >= 0)
                {
                    stream.Documents[index] = new YamlDocument(replacement);
                }
                break;
        }
    }

    private T Pick<T>(IReadOnlyList<T> items) => items[random.Next(items.Count)];

    private string RandomText(int length, bool anyChar)
    {
        var builder = new StringBuilder(length);
        for (var i = 0; i < length; i++)
        {
            builder.Append(anyChar ? (char)random.Next(0, 0x3000) : (char)random.Next('a', 'z' + 1));
        }
        return builder.ToString();
    }

    private YamlScalarNode OddScalar() => random.Next(8) switch
    {
        0 => new YamlScalarNode(Pick(Numbers)),
        1 => new YamlScalarNode(Pick(Durations)),
        2 => new YamlScalarNode(Pick(Hosts)),
        3 => new YamlScalarNode(Pick(Regexes)),
        4 => new YamlScalarNode(Pick(Numbers)) { Style = random.Next(2) == 0 ? ScalarStyle.DoubleQuoted : ScalarStyle.SingleQuoted },
        5 => new YamlScalarNode(RandomText(random.Next(1, 40), anyChar: true)),
        _ => new YamlScalarNode(Pick(Words)),
    };

    private YamlNode Nest(YamlNode inner, int depth)
    {
        for (var i = 0; i < depth; i++)
        {
            inner = random.Next(2) == 0
                ? new YamlMappingNode(new YamlScalarNode(Pick(Keys).Length == 0 ? "k" : Pick(Keys)), inner)
                : new YamlSequenceNode(inner);
        }
        return inner;
    }

    private static YamlNode Clone(YamlNode node) => node switch
    {
        YamlScalarNode s => new YamlScalarNode(s.Value) { Style = s.Style, Tag = s.Tag },
        YamlSequenceNode q => new YamlSequenceNode(q.Children.Select(Clone)),
        YamlMappingNode m => new YamlMappingNode(m.Children.Select(kv => new KeyValuePair<YamlNode, YamlNode>(Clone(kv.Key), Clone(kv.Value)))),
        _ => new YamlScalarNode("?"),
    };

    private string MutateTree(YamlStream stream, int textLength)
    {
        var slots = Nodes(stream);
        var slot = Pick(slots);
        var path = slot.Key is YamlScalarNode { Value: { } key } ? key : slot.Index >= 0 ? $"[{slot.Index}]" : "root";
        switch (random.Next(17))
        {
            case 0:
                Replace(slot, OddScalar(), stream);
                return $"tree: {path} -> odd scalar";
            case 1:
                Replace(slot, new YamlMappingNode(new YamlScalarNode(Pick(Keys) is { Length: > 0 } k ? k : "x"), OddScalar()), stream);
                return $"tree: {path} -> mapping";
            case 2:
                Replace(slot, slot.Node is YamlSequenceNode ? OddScalar() : new YamlSequenceNode(Clone(slot.Node)), stream);
                return $"tree: {path} -> list/scalar swap";
            case 3:
                if (slot.Parent is YamlMappingNode dropFrom)
                {
                    dropFrom.Children.Remove(slot.Key!);
                    return $"tree: dropped {path}";
                }
                if (slot.Parent is YamlSequenceNode dropFromList)
                {
                    dropFromList.Children.RemoveAt(slot.Index);
                    return $"tree: dropped item {path}";
                }
                return "tree: nothing dropped";
            case 4:
                Replace(slot, new YamlScalarNode(Pick(Numbers)), stream);
                return $"tree: {path} -> number";
            case 5:
                var length = Pick(new[] { 4096, 4097, 65536, 300_000 });
                Replace(slot, new YamlScalarNode(RandomText(length, anyChar: random.Next(2) == 0)) { Style = ScalarStyle.DoubleQuoted }, stream);
                return $"tree: {path} -> {length}-char string";
            case 6:
                var depth = Pick(new[] { 8, 31, 33, 64, 500 });
                Replace(slot, Nest(Clone(slot.Node), depth), stream);
                return $"tree: {path} nested {depth} deep";
            case 7:
                var count = Pick(new[] { 2, 255, 257, 3000 });
                // Keep the text near the loader's 1 MiB limit, not far past it (that only costs time).
                count = (int)Math.Min(count, Math.Max(2, 4_000_000L / Math.Max(1, textLength)));
                Replace(slot, new YamlSequenceNode(Enumerable.Range(0, count).Select(_ => Clone(slot.Node))), stream);
                return $"tree: {path} -> list of {count}";
            case 8:
                if (slot.Node is YamlMappingNode target)
                {
                    var newKey = Pick(Keys);
                    var addedKey = new YamlScalarNode(newKey);
                    if (!target.Children.ContainsKey(addedKey))
                    {
                        target.Children.Add(addedKey, random.Next(2) == 0 ? OddScalar() : Clone(Pick(slots).Node));
                    }
                    return $"tree: added '{newKey}' to {path}";
                }
                Replace(slot, Clone(Pick(slots).Node), stream);
                return $"tree: {path} -> copy of another node";
            case 9:
                Replace(slot, new YamlScalarNode(Pick(Durations)), stream);
                return $"tree: {path} -> duration";
            case 10:
                Replace(slot, new YamlScalarNode(Pick(Hosts)), stream);
                return $"tree: {path} -> host";
            case 11:
                Replace(slot, new YamlMappingNode(new YamlScalarNode(Pick(new[] { "exact", "prefix", "regex" })), new YamlScalarNode(Pick(Regexes))), stream);
                return $"tree: {path} -> string match";
            case 12:
                if (slot.Node is YamlScalarNode tagged)
                {
                    tagged.Tag = Pick(new[] { "tag:yaml.org,2002:binary", "tag:yaml.org,2002:int", "!custom", "tag:yaml.org,2002:map" });
                    return $"tree: tagged {path}";
                }
                Replace(slot, Clone(Pick(slots).Node), stream);
                return $"tree: {path} -> copy of another node";
            case 13:
                if (slot.Parent is YamlMappingNode renameIn && slot.Key is YamlScalarNode { Value: { } oldName })
                {
                    var renamed = new YamlScalarNode(random.Next(2) == 0 ? oldName.ToUpperInvariant() : oldName + "s");
                    if (!renameIn.Children.ContainsKey(renamed))
                    {
                        renameIn.Children.Remove(slot.Key);
                        renameIn.Children.Add(renamed, slot.Node);
                    }
                    return $"tree: renamed {path}";
                }
                return "tree: nothing renamed";
            case 14:
                if (slot.Node is YamlScalarNode restyled)
                {
                    restyled.Style = Pick(new[] { ScalarStyle.DoubleQuoted, ScalarStyle.SingleQuoted, ScalarStyle.Literal, ScalarStyle.Folded });
                    return $"tree: restyled {path}";
                }
                return "tree: nothing restyled";
            case 15:
                if (slot.Parent is YamlMappingNode complexIn)
                {
                    complexIn.Children.Remove(slot.Key!);
                    var complexKey = new YamlSequenceNode(new YamlScalarNode("k"), new YamlScalarNode(Guid.NewGuid().ToString("N")));
                    complexIn.Children.Add(complexKey, slot.Node);
                    return $"tree: {path} under a complex key";
                }
                return "tree: no complex key";
            default:
                Replace(slot, new YamlScalarNode(Pick(Words)), stream);
                return $"tree: {path} -> word";
        }
    }

    private string MutateText(string yaml, out string description)
    {
        var lines = yaml.Split('\n').ToList();
        var line = random.Next(Math.Max(1, lines.Count));
        switch (random.Next(18))
        {
            case 0:
                var at = random.Next(yaml.Length + 1);
                description = $"text: truncated at {at}";
                return yaml[..at];
            case 1:
                var position = random.Next(yaml.Length + 1);
                var noise = RandomText(random.Next(1, 16), anyChar: true);
                description = $"text: {noise.Length} random chars at {position}";
                return yaml.Insert(position, noise);
            case 2:
                var bytes = new byte[random.Next(1, 64)];
                random.NextBytes(bytes);
                var where = random.Next(yaml.Length + 1);
                description = $"text: {bytes.Length} random bytes (latin1) at {where}";
                return yaml.Insert(where, Encoding.Latin1.GetString(bytes));
            case 3:
                if (lines.Count > 0)
                {
                    lines.RemoveAt(line);
                }
                description = $"text: deleted line {line}";
                return string.Join('\n', lines);
            case 4:
                if (lines.Count > 0)
                {
                    lines.Insert(line, lines[line]);
                }
                description = $"text: duplicated line {line} (duplicate key)";
                return string.Join('\n', lines);
            case 5:
                var other = random.Next(Math.Max(1, lines.Count));
                if (lines.Count > 1)
                {
                    (lines[line], lines[other]) = (lines[other], lines[line]);
                }
                description = $"text: swapped lines {line} and {other}";
                return string.Join('\n', lines);
            case 6:
                if (lines.Count > 0)
                {
                    lines[line] = random.Next(3) switch
                    {
                        0 => "  " + lines[line],
                        1 => lines[line].TrimStart(),
                        _ => "\t" + lines[line],
                    };
                }
                description = $"text: re-indented line {line}";
                return string.Join('\n', lines);
            case 7:
                description = "text: anchor and alias";
                return yaml.Replace("spec:", "spec: &s", StringComparison.Ordinal) + "\n---\napiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: {name: alias}\nspec: *s\n";
            case 8:
                var laughs = new StringBuilder("a0: &a0 [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n");
                for (var i = 1; i < 10; i++)
                {
                    laughs.Append($"a{i}: &a{i} [*a{i - 1},*a{i - 1},*a{i - 1},*a{i - 1},*a{i - 1},*a{i - 1},*a{i - 1},*a{i - 1},*a{i - 1}]\n");
                }
                description = "text: billion laughs";
                return random.Next(2) == 0 ? laughs.ToString() : yaml + "\n---\n" + laughs;
            case 9:
                description = "text: merge key";
                return yaml.Replace("metadata:", "base: &b {x: 1}\nmetadata:\n  <<: *b", StringComparison.Ordinal);
            case 10:
                var flowDepth = Pick(new[] { 33, 1000, 100_000 });
                description = $"text: flow nesting {flowDepth} deep";
                return random.Next(2) == 0
                    ? new string('[', flowDepth) + new string(']', flowDepth)
                    : yaml + "\n---\nx: " + string.Concat(Enumerable.Repeat("{a: ", flowDepth)) + "1" + new string('}', flowDepth);
            case 11:
                description = "text: directives and markers";
                return Pick(new[] { "%YAML 1.1\n---\n", "%YAML 2.0\n---\n", "%TAG ! tag:evil,2024:\n---\n", "\uFEFF", "...\n", "---\n---\n", "%FOO bar\n---\n" }) + yaml;
            case 12:
                description = "text: document repeated";
                return yaml + "\n---\n" + yaml;
            case 13:
                if (lines.Count > 0)
                {
                    lines[line] = lines[line].Replace(": ", Pick(new[] { " : ", ":", "::", ": : ", "=" }), StringComparison.Ordinal);
                }
                description = $"text: broke the colon on line {line}";
                return string.Join('\n', lines);
            case 14:
                description = "text: very long line";
                return yaml + "\n# " + new string('x', Pick(new[] { 10_000, 900_000, 1_100_000 })) + "\n";
            case 15:
                description = "text: CRLF / CR line ends";
                return random.Next(2) == 0 ? yaml.Replace("\n", "\r\n", StringComparison.Ordinal) : yaml.Replace("\n", "\r", StringComparison.Ordinal);
            case 16:
                description = "text: control characters";
                return yaml.Insert(random.Next(yaml.Length + 1), Pick(new[] { "\0", "\u0007", "\u001b[31m", "\uD800", "\uDFFF", "\u0085", "\u2028" }));
            default:
                description = "text: empty or blank";
                return Pick(new[] { "", " ", "\n", "---", "~", "null", "[]", "{}", "- a", "42", "\"str\"", "--- |\n  text\n" });
        }
    }
}
