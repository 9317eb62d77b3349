using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Demo.Bench;

/// <summary>
/// Open-loop load at a fixed rate: request i is due at start + i/rate whatever happened to earlier requests, and its
/// latency counts from that due time, so a stall shows as latency instead of as a lower rate (no coordinated
/// omission). The first <c>warmup</c> seconds are load too, ramping linearly from 0 to <c>rate</c> (so a cold chain
/// grows its connection pools with the load instead of meeting the full rate at once), and RSS and CPU are measured
/// from their end.
/// </summary>
public static class SoakCommand
{
    private const int Pending = 0, Ok = 1, BadStatus = 2, Failed = 3;

    public static async Task<int> RunAsync(Arguments args)
    {
        var url = new Uri(args.Required("url"));
        var rate = args.Number("rate", 1000);
        var warmup = args.Number("warmup", 10);
        var duration = args.Number("duration", 60);
        var tolerance = args.Number("rss-tolerance", 0.20);
        var minRate = args.Number("min-rate", 0.95);
        // growth: only RSS above warm-up x (1 + tolerance) fails (a leak); both: also RSS below x (1 - tolerance).
        var rssCheck = args.Optional("rss-check") ?? "growth";
        var timeout = TimeSpan.FromSeconds(args.Number("timeout", 10));
        var watched = args.Pairs("watch").Select(p => (Name: p.Key, Pid: int.Parse(p.Value, CultureInfo.InvariantCulture))).ToList();

        using var client = new HttpClient(new SocketsHttpHandler
        {
            UseProxy = false,
            AllowAutoRedirect = false,
            UseCookies = false,
            MaxConnectionsPerServer = (int)args.Number("connections", 512),
            PooledConnectionLifetime = Timeout.InfiniteTimeSpan,
        })
        { Timeout = timeout };

        // The ramp: rate·t/warmup requests a second during the warm-up, so rate·warmup/2 in all.
        var warmupCount = (long)Math.Round(rate * warmup / 2);
        var total = warmupCount + (long)Math.Round(rate * duration);
        var outcomes = new int[total];
        var completedAt = new double[total];
        var latencyMs = new double[total];
        var statusCounts = new ConcurrentDictionary<string, long>();
        var bodyCounts = new ConcurrentDictionary<string, long>();
        var errorSamples = new ConcurrentQueue<string>();
        var inFlight = 0L;
        var allDone = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var start = Stopwatch.GetTimestamp();
        double Now() => Stopwatch.GetElapsedTime(start).TotalSeconds;

        // When request i is due (seconds from the start): on the ramp, n(t) = rate·t²/(2·warmup); then rate a second.
        double DueAt(long index) => index < warmupCount ? Math.Sqrt(2 * warmup * index / rate) : warmup + (index - warmupCount) / rate;
        long DueBy(double t) => Math.Min(total, t < warmup ? (long)(rate * t * t / (2 * warmup)) + 1 : warmupCount + (long)((t - warmup) * rate) + 1);
        long okSoFar = 0, errorsSoFar = 0;
        var load = new LoadTimeline(watched);

        async Task SendAsync(long index)
        {
            var due = DueAt(index);
            string key;
            try
            {
                using var response = await client.GetAsync(url, HttpCompletionOption.ResponseContentRead);
                var body = await response.Content.ReadAsStringAsync();
                var status = (int)response.StatusCode;
                key = status.ToString(CultureInfo.InvariantCulture);
                var kind = Classify(body);
                var ok = status == 200 && kind != "other";
                outcomes[index] = ok ? Ok : BadStatus;
                bodyCounts.AddOrUpdate(kind, 1, (_, n) => n + 1);
                if (!ok && errorSamples.Count < 10)
                {
                    errorSamples.Enqueue($"{status} {body[..Math.Min(body.Length, 200)]}");
                }
            }
            catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException or IOException)
            {
                key = ex.GetType().Name;
                outcomes[index] = Failed;
                if (errorSamples.Count < 10)
                {
                    errorSamples.Enqueue($"{ex.GetType().Name}: {ex.Message}");
                }
            }
            if (outcomes[index] == Ok)
            {
                Interlocked.Increment(ref okSoFar);
            }
            else
            {
                Interlocked.Increment(ref errorsSoFar);
            }
            var now = Now();
            completedAt[index] = now;
            latencyMs[index] = (now - due) * 1000;
            statusCounts.AddOrUpdate(key, 1, (_, n) => n + 1);
            if (Interlocked.Decrement(ref inFlight) == 0 && Volatile.Read(ref scheduled) == total)
            {
                allDone.TrySetResult();
            }
        }

        // A dedicated thread issues the requests that are due, ~1 ms apart; it never waits for responses.
        Snapshot? warm = null, end = null;
        var timeline = new List<(double T, Dictionary<string, double?> Rss)>();
        var maxLag = 0.0;
        var scheduler = new Thread(() =>
        {
            long issued = 0;
            var nextSample = 0.0;
            var nextLoadSample = 0.0;
            while (issued < total || end is null)
            {
                var now = Now();
                var due = DueBy(now);
                if (issued < due)
                {
                    maxLag = Math.Max(maxLag, now - DueAt(issued));
                }
                for (; issued < due; issued++)
                {
                    Interlocked.Increment(ref inFlight);
                    Volatile.Write(ref scheduled, issued + 1);
                    _ = SendAsync(issued);
                }
                if (warm is null && now >= warmup)
                {
                    warm = Snapshot.Take(watched, now);
                }
                if (end is null && now >= warmup + duration)
                {
                    end = Snapshot.Take(watched, now);
                }
                if (now >= nextLoadSample)
                {
                    load.Sample(now, Interlocked.Read(ref okSoFar), Interlocked.Read(ref errorsSoFar), Interlocked.Read(ref inFlight));
                    nextLoadSample += 1;
                }
                if (now >= nextSample)
                {
                    timeline.Add((Math.Round(now, 1), watched.ToDictionary(w => w.Name, w => ProcFs.RssMegabytes(w.Pid))));
                    nextSample += 5;
                }
                Thread.Sleep(1);
            }
        })
        { IsBackground = true, Name = "soak scheduler", Priority = ThreadPriority.AboveNormal };
        scheduler.Start();
        scheduler.Join();
        if (Interlocked.Read(ref inFlight) == 0)
        {
            allDone.TrySetResult();
        }
        var drained = await Task.WhenAny(allDone.Task, Task.Delay(timeout + TimeSpan.FromSeconds(2))) == allDone.Task;

        // Figures for the measured window (after warm-up).
        var measured = Enumerable.Range((int)warmupCount, (int)(total - warmupCount)).ToArray();
        var windowEnd = warmup + duration;
        var completedInWindow = measured.Count(i => outcomes[i] != Pending && completedAt[i] <= windowEnd + 0.5);
        var achieved = completedInWindow / duration;
        var errors = outcomes.Count(o => o is BadStatus or Failed);
        var warmupErrors = outcomes.Take((int)warmupCount).Count(o => o is BadStatus or Failed);
        var unfinished = outcomes.Count(o => o == Pending);
        var sorted = measured.Where(i => outcomes[i] != Pending).Select(i => latencyMs[i]).Order().ToArray();

        var processes = new JsonArray();
        var criteria = new JsonArray();
        void Criterion(string name, bool ok, string detail) =>
            criteria.Add(new JsonObject { ["name"] = name, ["ok"] = ok, ["detail"] = detail });

        Criterion("zero errors", errors == 0 && unfinished == 0,
            $"{errors} errors ({warmupErrors} during warm-up), {unfinished} unanswered of {total}");
        Criterion("rate held", achieved >= minRate * rate,
            $"{achieved:0} rps completed in the measured window vs {rate:0} target (min {minRate:0%})");
        foreach (var (name, pid) in watched)
        {
            var rssWarm = warm?.Rss[name];
            var rssEnd = end?.Rss[name];
            var cpu = warm?.Cpu[name] is { } c0 && end?.Cpu[name] is { } c1 ? (c1 - c0) / (end.T - warm.T) : (double?)null;
            var change = rssWarm is > 0 && rssEnd is { } e ? e / rssWarm.Value - 1 : (double?)null;
            processes.Add(new JsonObject
            {
                ["name"] = name,
                ["pid"] = pid,
                ["rss_warm_mb"] = Round(rssWarm),
                ["rss_end_mb"] = Round(rssEnd),
                ["rss_change"] = Round(change, 3),
                ["vcpu"] = Round(cpu, 3),
                ["vcpu_per_1k_rps"] = Round(cpu / (achieved / 1000), 3),
            });
            Criterion($"{name} alive", ProcFs.IsAlive(pid) && rssEnd is not null, $"pid {pid}");
            Criterion(rssCheck == "both" ? $"{name} RSS within {tolerance:0%}" : $"{name} RSS growth at most {tolerance:0%}",
                change is { } ch && (rssCheck == "both" ? Math.Abs(ch) : ch) <= tolerance,
                $"{Format(rssWarm)} MB after warm-up, {Format(rssEnd)} MB at the end ({(change is { } x ? x.ToString("+0.0%;-0.0%", CultureInfo.InvariantCulture) : "n/a")})");
        }
        var passed = criteria.All(c => (bool)c!["ok"]!) && drained;

        var result = new JsonObject
        {
            ["kind"] = "soak",
            ["timestamp"] = DateTimeOffset.Now.ToString("O", CultureInfo.InvariantCulture),
            ["url"] = url.ToString(),
            ["rate"] = rate,
            ["rss_check"] = rssCheck,
            ["rss_tolerance"] = tolerance,
            ["warmup_s"] = warmup,
            ["duration_s"] = duration,
            ["requests"] = new JsonObject
            {
                ["total"] = total,
                ["errors"] = errors,
                ["warmup_errors"] = warmupErrors,
                ["unanswered"] = unfinished,
                ["by_status"] = ToJson(statusCounts),
                ["by_body"] = ToJson(bodyCounts),
                ["error_samples"] = new JsonArray([.. errorSamples.Select(s => (JsonNode)s)]),
            },
            ["achieved_rps"] = Math.Round(achieved, 1),
            ["latency_ms"] = new JsonObject
            {
                ["p50"] = Round(Percentile(sorted, 0.50), 2),
                ["p90"] = Round(Percentile(sorted, 0.90), 2),
                ["p99"] = Round(Percentile(sorted, 0.99), 2),
                ["max"] = Round(sorted.Length > 0 ? sorted[^1] : null, 2),
            },
            ["max_schedule_lag_ms"] = Math.Round(maxLag * 1000, 1),
            ["processes"] = processes,
            ["rss_timeline"] = new JsonArray([.. timeline.Select(s => (JsonNode)new JsonObject
            {
                ["t"] = s.T,
                ["rss_mb"] = new JsonObject([.. s.Rss.Select(kv => KeyValuePair.Create(kv.Key, (JsonNode?)Round(kv.Value)))]),
            })]),
            ["load_timeline"] = load.ToJson(),
            ["criteria"] = criteria,
            ["passed"] = passed,
        };

        var json = result.ToJsonString(new JsonSerializerOptions { WriteIndented = true });
        if (args.Optional("out") is { } outPath)
        {
            await File.WriteAllTextAsync(outPath, json + "\n");
        }

        Console.WriteLine($"soak: {url} at {rate:0} rps, {warmup:0} s warm-up + {duration:0} s measured");
        Console.WriteLine($"  requests {total}, errors {errors} (warm-up {warmupErrors}), unanswered {unfinished}, by body: "
            + string.Join(", ", bodyCounts.OrderBy(kv => kv.Key).Select(kv => $"{kv.Key} {kv.Value}")));
        Console.WriteLine($"  completed {achieved:0} rps; latency from schedule p50 {Percentile(sorted, 0.5):0.00} ms, "
            + $"p99 {Percentile(sorted, 0.99):0.00} ms, max {(sorted.Length > 0 ? sorted[^1] : 0):0.0} ms; max scheduler lag {maxLag * 1000:0.0} ms");
        Console.WriteLine($"  {"process",-10} {"RSS warm MB",12} {"RSS end MB",11} {"change",8} {"vCPU",6}");
        foreach (var p in processes)
        {
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"  {p!["name"],-10} {p["rss_warm_mb"],12} {p["rss_end_mb"],11} {p["rss_change"],8} {p["vcpu"],6}"));
        }
        foreach (var c in criteria)
        {
            Console.WriteLine($"  [{((bool)c!["ok"]! ? "ok" : "FAIL")}] {c["name"]}: {c["detail"]}");
        }
        foreach (var sample in errorSamples)
        {
            Console.WriteLine($"  error sample: {sample}");
        }
        if (!passed)
        {
            Console.WriteLine("  load, second by second (the chain's CPU beside the whole machine's):");
            foreach (var line in load.Format())
            {
                Console.WriteLine(line);
            }
        }
        Console.WriteLine(passed ? "soak: PASSED" : "soak: FAILED");
        return passed ? 0 : 1;
    }

    private static long scheduled;

    private static string Classify(string body) =>
        body.Contains("CF v1", StringComparison.Ordinal) ? "v1"
        : body.Contains("CF v2", StringComparison.Ordinal) ? "v2"
        : "other";

    private static double? Percentile(double[] sorted, double q) =>
        sorted.Length == 0 ? null : sorted[Math.Min(sorted.Length - 1, (int)Math.Ceiling(q * sorted.Length) - 1)];

    private static double? Round(double? value, int digits = 1) =>
        value is { } v && double.IsFinite(v) ? Math.Round(v, digits) : null;

    private static string Format(double? value) => value is { } v ? v.ToString("0.0", CultureInfo.InvariantCulture) : "n/a";

    private static JsonObject ToJson(ConcurrentDictionary<string, long> counts) =>
        new([.. counts.OrderBy(kv => kv.Key, StringComparer.Ordinal).Select(kv => KeyValuePair.Create(kv.Key, (JsonNode?)kv.Value))]);

    private sealed record Snapshot(double T, Dictionary<string, double?> Rss, Dictionary<string, double?> Cpu)
    {
        public static Snapshot Take(List<(string Name, int Pid)> watched, double t) => new(t,
            watched.ToDictionary(w => w.Name, w => ProcFs.RssMegabytes(w.Pid)),
            watched.ToDictionary(w => w.Name, w => ProcFs.CpuSeconds(w.Pid)));
    }
}
