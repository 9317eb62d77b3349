using System.Globalization;
using System.Text.Json.Nodes;

namespace Demo.Bench;

/// <summary>
/// One row a second of a soak: requests answered well and badly in that second, requests in flight at its end, the CPU
/// the watched processes (the chain) used, and how busy the whole machine was. A chain that stalls while the machine
/// is idle is the chain's fault; a chain that gets a fraction of a core while the machine is saturated is starved by a
/// neighbour — the table tells the two apart.
/// </summary>
public sealed class LoadTimeline(IReadOnlyList<(string Name, int Pid)> watched)
{
    private readonly List<Row> _rows = [];
    private (double T, long Ok, long Errors, double ChainCpu, MachineTicks Machine)? _last;

    /// <summary>One second of the timeline: counts, in-flight requests, vCPU (cores) of the chain and of the machine.</summary>
    public sealed record Row(double T, long Ok, long Errors, long InFlight, double ChainVcpu, double MachineBusyVcpu, int Cores);

    public IReadOnlyList<Row> Rows => _rows;

    /// <summary>Takes a sample at <paramref name="t"/> seconds with the running totals; a row per sample after the first.</summary>
    public void Sample(double t, long okSoFar, long errorsSoFar, long inFlight)
    {
        var chainCpu = watched.Sum(w => ProcFs.CpuSeconds(w.Pid) ?? 0);
        var machine = MachineTicks.Read();
        if (_last is { } last && t > last.T)
        {
            var elapsed = t - last.T;
            var busy = machine.Busy - last.Machine.Busy;
            var total = machine.Total - last.Machine.Total;
            _rows.Add(new Row(Math.Round(t, 1), okSoFar - last.Ok, errorsSoFar - last.Errors, inFlight,
                Math.Round((chainCpu - last.ChainCpu) / elapsed, 2),
                total > 0 ? Math.Round((double)busy / total * Environment.ProcessorCount, 2) : 0, Environment.ProcessorCount));
        }
        _last = (t, okSoFar, errorsSoFar, chainCpu, machine);
    }

    public JsonArray ToJson() => [.. _rows.Select(r => (JsonNode)new JsonObject
    {
        ["t"] = r.T,
        ["ok"] = r.Ok,
        ["errors"] = r.Errors,
        ["in_flight"] = r.InFlight,
        ["chain_vcpu"] = r.ChainVcpu,
        ["machine_busy_vcpu"] = r.MachineBusyVcpu,
    })];

    /// <summary>The table as text, one line a second, for a failed soak's output.</summary>
    public IEnumerable<string> Format()
    {
        yield return $"  {"t s",6} {"ok",6} {"errors",6} {"in flight",9} {"chain vCPU",10} {"machine busy",12}";
        foreach (var r in _rows)
        {
            yield return string.Create(CultureInfo.InvariantCulture,
                $"  {r.T,6:0.0} {r.Ok,6} {r.Errors,6} {r.InFlight,9} {r.ChainVcpu,10:0.00} {r.MachineBusyVcpu,7:0.00} of {r.Cores}");
        }
    }

    /// <summary>Busy and total clock ticks of all cores (the first line of /proc/stat).</summary>
    private readonly record struct MachineTicks(long Busy, long Total)
    {
        public static MachineTicks Read()
        {
            try
            {
                var fields = File.ReadLines("/proc/stat").First().Split(' ', StringSplitOptions.RemoveEmptyEntries).Skip(1)
                    .Select(f => long.Parse(f, CultureInfo.InvariantCulture)).ToArray();
                // user nice system idle iowait irq softirq steal ...: idle and iowait are not busy.
                var total = fields.Take(8).Sum();
                return new MachineTicks(total - fields[3] - fields[4], total);
            }
            catch (IOException)
            {
                return default;
            }
        }
    }
}
