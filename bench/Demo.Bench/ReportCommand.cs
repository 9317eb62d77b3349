using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Demo.Bench;

/// <summary>
/// Turns run.sh's raw lines (one per measured wrk run: <c>key=value</c> pairs) into medians per path, latency added
/// over the direct baseline, CPU per 1000 rps, RSS and the gateway's ratios to the one-hop nginx (<c>nginx</c>, issue 5's
/// targets) and to the two chained nginx that do the two proxies' job (<c>nginx2</c>, issue 20's targets: rps ≥ 1.0×,
/// CPU per request ≤ 1.0×, p99 ≤ 1.0×, RSS ≤ 2×).
/// </summary>
public static class ReportCommand
{
    private static readonly string[] PathOrder = ["direct", "nginx", "nginx2", "gateway"];

    public static int Run(Arguments args)
    {
        var runs = File.ReadLines(args.Required("raw"))
            .Where(line => line.Trim().Length > 0)
            .Select(ParseLine)
            .ToList();

        var paths = new JsonObject();
        var summaries = new Dictionary<string, PathSummary>();
        foreach (var path in PathOrder.Concat(runs.Select(r => r["path"]).Distinct()).Distinct())
        {
            var rounds = runs.Where(r => r["path"] == path).ToList();
            if (rounds.Count == 0)
            {
                continue;
            }
            double Median(Func<Dictionary<string, string>, double?> pick) =>
                MedianOf(rounds.Select(pick).OfType<double>());
            var summary = new PathSummary(
                Rounds: rounds.Count,
                Rps: Median(r => Num(r, "rps")),
                P50: Median(r => Num(r, "p50_us") / 1000),
                P99: Median(r => Num(r, "p99_us") / 1000),
                ProxyVcpu: Median(r => Num(r, "proxy_cpu_s") / Num(r, "wall_s")),
                VcpuPerKrps: Median(r => Num(r, "proxy_cpu_s") / Num(r, "wall_s") / (Num(r, "rps") / 1000)),
                RssMb: rounds.Select(r => Num(r, "proxy_rss_kb")).OfType<double>().DefaultIfEmpty(double.NaN).Max() / 1024,
                UpstreamVcpu: Median(r => Num(r, "upstream_cpu_s") / Num(r, "wall_s")),
                WrkVcpu: Median(r => Num(r, "wrk_cpu_s") / Num(r, "wall_s")),
                MachineBusy: Median(r => Num(r, "machine_busy")),
                Errors: rounds.Sum(r => (long)(Num(r, "errors") ?? 0)),
                Requests: rounds.Sum(r => (long)(Num(r, "requests") ?? 0)));
            summaries[path] = summary;
            paths[path] = new JsonObject
            {
                ["rounds"] = summary.Rounds,
                ["requests"] = summary.Requests,
                ["errors"] = summary.Errors,
                ["rps"] = R(summary.Rps, 0),
                ["p50_ms"] = R(summary.P50, 3),
                ["p99_ms"] = R(summary.P99, 3),
                ["proxy_vcpu"] = R(summary.ProxyVcpu, 3),
                ["vcpu_per_1k_rps"] = R(summary.VcpuPerKrps, 4),
                ["rss_mb"] = R(summary.RssMb, 1),
                ["upstream_vcpu"] = R(summary.UpstreamVcpu, 3),
                ["wrk_vcpu"] = R(summary.WrkVcpu, 3),
                ["machine_busy_cores"] = R(summary.MachineBusy, 2),
                ["per_round"] = new JsonArray([.. rounds.Select(r => (JsonNode)new JsonObject(
                    r.Select(kv => KeyValuePair.Create(kv.Key, (JsonNode?)(Num(r, kv.Key) is { } n ? JsonValue.Create(n) : JsonValue.Create(kv.Value))))))]),
            };
        }

        if (summaries.TryGetValue("direct", out var direct))
        {
            foreach (var (path, summary) in summaries.Where(s => s.Key != "direct"))
            {
                paths[path]!["added_p50_ms"] = R(summary.P50 - direct.P50, 3);
                paths[path]!["added_p99_ms"] = R(summary.P99 - direct.P99, 3);
            }
        }

        var targets = new JsonArray();
        summaries.TryGetValue("gateway", out var gateway);
        var nginx = summaries.GetValueOrDefault("nginx");
        var nginx2 = summaries.GetValueOrDefault("nginx2");
        var ratios = Ratios(gateway, nginx);
        var twoHopRatios = Ratios(gateway, nginx2);
        if (gateway is not null && nginx is not null)
        {
            targets.Add(Target("gateway rps >= 1.0 x nginx rps", gateway.Rps / nginx.Rps, ">=", 1.0));
            targets.Add(Target("gateway p99 <= 1.0 x nginx p99", gateway.P99 / nginx.P99, "<=", 1.0));
        }
        if (gateway is not null)
        {
            targets.Add(Target("gateway <= 0.20 vCPU per 1000 rps", gateway.VcpuPerKrps, "<=", 0.20));
        }
        if (gateway is not null && nginx2 is not null)
        {
            targets.Add(Target("gateway rps >= 1.0 x nginx2 rps", gateway.Rps / nginx2.Rps, ">=", 1.0));
            targets.Add(Target("gateway vCPU per request <= 1.0 x nginx2", gateway.VcpuPerKrps / nginx2.VcpuPerKrps, "<=", 1.0));
            targets.Add(Target("gateway p99 <= 1.0 x nginx2 p99", gateway.P99 / nginx2.P99, "<=", 1.0));
            targets.Add(Target("gateway RSS <= 2.0 x nginx2 RSS", gateway.RssMb / nginx2.RssMb, "<=", 2.0));
        }

        var meta = new JsonObject([.. args.Pairs("meta").Select(kv => KeyValuePair.Create(kv.Key, (JsonNode?)kv.Value))]);
        var result = new JsonObject
        {
            ["kind"] = "bench",
            ["meta"] = meta,
            ["paths"] = paths,
            ["ratios_gateway_over_nginx"] = ratios,
            ["ratios_gateway_over_nginx2"] = twoHopRatios,
            ["targets"] = targets,
            ["errors"] = summaries.Values.Sum(s => s.Errors),
        };
        File.WriteAllText(args.Required("out"), result.ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + "\n");

        Console.Write(Table(summaries, direct, ratios, twoHopRatios, targets));
        return 0;
    }

    private static string Table(Dictionary<string, PathSummary> summaries, PathSummary? direct, JsonObject ratios, JsonObject twoHopRatios,
        JsonArray targets)
    {
        var text = new StringBuilder();
        var inv = CultureInfo.InvariantCulture;
        text.AppendLine(inv, $"{"path",-8} {"rps",8} {"p50 ms",7} {"p99 ms",7} {"+p50",6} {"+p99",6} {"proxy vCPU",10} {"vCPU/1k rps",11} {"RSS MB",7} {"CF vCPU",7} {"wrk vCPU",8} {"busy",5} {"errors",6}");
        foreach (var (path, s) in summaries)
        {
            var addedP50 = direct is null || path == "direct" ? "-" : F(s.P50 - direct.P50, "0.00");
            var addedP99 = direct is null || path == "direct" ? "-" : F(s.P99 - direct.P99, "0.00");
            text.AppendLine(inv,
                $"{path,-8} {F(s.Rps, "0"),8} {F(s.P50, "0.00"),7} {F(s.P99, "0.00"),7} {addedP50,6} {addedP99,6} {F(s.ProxyVcpu, "0.00"),10} {F(s.VcpuPerKrps, "0.000"),11} {F(s.RssMb, "0"),7} {F(s.UpstreamVcpu, "0.00"),7} {F(s.WrkVcpu, "0.00"),8} {F(s.MachineBusy, "0.0"),5} {s.Errors,6}");
        }
        if (ratios.Count > 0)
        {
            text.AppendLine("gateway / nginx: " + string.Join(", ", ratios.Select(kv => $"{kv.Key} {kv.Value}")));
        }
        if (twoHopRatios.Count > 0)
        {
            text.AppendLine("gateway / nginx2: " + string.Join(", ", twoHopRatios.Select(kv => $"{kv.Key} {kv.Value}")));
        }
        foreach (var target in targets)
        {
            text.AppendLine(inv, $"target {target!["name"]}: {target["value"]} -> {((bool)target["met"]! ? "met" : "MISSED")}");
        }
        return text.ToString();
    }

    // The gateway's figures over an anchor's (rounded to 3 decimals); empty when either path is missing.
    private static JsonObject Ratios(PathSummary? gateway, PathSummary? anchor) => gateway is null || anchor is null ? [] : new()
    {
        ["rps"] = R(gateway.Rps / anchor.Rps, 3),
        ["p50"] = R(gateway.P50 / anchor.P50, 3),
        ["p99"] = R(gateway.P99 / anchor.P99, 3),
        ["vcpu_per_1k_rps"] = R(gateway.VcpuPerKrps / anchor.VcpuPerKrps, 3),
        ["rss"] = R(gateway.RssMb / anchor.RssMb, 3),
    };

    private static JsonObject Target(string name, double value, string op, double limit) => new()
    {
        ["name"] = name,
        ["value"] = R(value, 3),
        ["limit"] = limit,
        ["met"] = op == ">=" ? value >= limit : value <= limit,
    };

    private static Dictionary<string, string> ParseLine(string line) =>
        line.Split((char[])[' ', '\t'], StringSplitOptions.RemoveEmptyEntries)
            .Select(part => part.Split('=', 2))
            .Where(kv => kv.Length == 2)
            .ToDictionary(kv => kv[0], kv => kv[1], StringComparer.Ordinal);

    private static double? Num(Dictionary<string, string> run, string key) =>
        run.TryGetValue(key, out var text) && double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var value)
            ? value
            : null;

    private static double MedianOf(IEnumerable<double> values)
    {
        var sorted = values.Where(double.IsFinite).Order().ToArray();
        if (sorted.Length == 0)
        {
            return double.NaN;
        }
        var mid = sorted.Length / 2;
        return sorted.Length % 2 == 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
    }

    private static JsonNode? R(double value, int digits) => double.IsFinite(value) ? JsonValue.Create(Math.Round(value, digits)) : null;

    private static string F(double value, string format) => double.IsFinite(value) ? value.ToString(format, CultureInfo.InvariantCulture) : "-";

    private sealed record PathSummary(int Rounds, double Rps, double P50, double P99, double ProxyVcpu, double VcpuPerKrps,
        double RssMb, double UpstreamVcpu, double WrkVcpu, double MachineBusy, long Errors, long Requests);
}
