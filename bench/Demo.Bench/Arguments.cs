using System.Globalization;

namespace Demo.Bench;

/// <summary><c>--name value</c> pairs; a name may repeat (<c>--watch a=1 --watch b=2</c>).</summary>
public sealed class Arguments
{
    private readonly Dictionary<string, List<string>> _values = new(StringComparer.Ordinal);

    public static Arguments Parse(IReadOnlyList<string> args)
    {
        var parsed = new Arguments();
        for (var i = 0; i < args.Count; i++)
        {
            if (!args[i].StartsWith("--", StringComparison.Ordinal) || i + 1 >= args.Count)
            {
                throw new ArgumentException($"expected '--name value', got '{args[i]}'");
            }
            var name = args[i][2..];
            if (!parsed._values.TryGetValue(name, out var list))
            {
                parsed._values[name] = list = [];
            }
            list.Add(args[++i]);
        }
        return parsed;
    }

    public string Required(string name) =>
        _values.TryGetValue(name, out var list) ? list[^1] : throw new ArgumentException($"--{name} is required");

    public string? Optional(string name) => _values.TryGetValue(name, out var list) ? list[^1] : null;

    public double Number(string name, double fallback) =>
        Optional(name) is { } text ? double.Parse(text, CultureInfo.InvariantCulture) : fallback;

    public IReadOnlyList<string> All(string name) => _values.TryGetValue(name, out var list) ? list : [];

    /// <summary>Repeated <c>key=value</c> options as pairs, in order.</summary>
    public IReadOnlyList<KeyValuePair<string, string>> Pairs(string name) =>
        [.. All(name).Select(item => item.Split('=', 2) is [var key, var value]
            ? KeyValuePair.Create(key, value)
            : throw new ArgumentException($"--{name} expects key=value, got '{item}'"))];
}
