using System.Globalization;

namespace Demo.Bench;

/// <summary>CPU time and resident memory of a process, read from /proc like the scripts do.</summary>
public static class ProcFs
{
    // USER_HZ: the unit of utime/stime in /proc/<pid>/stat; 100 on every Linux the SDK runs on.
    private const double TicksPerSecond = 100;

    public static bool IsAlive(int pid) => File.Exists($"/proc/{pid}/stat");

    /// <summary>User + system CPU seconds, or null when the process is gone.</summary>
    public static double? CpuSeconds(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            // The command name is in parentheses and may contain spaces: count fields after the last ')'.
            var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            // Fields 14 and 15 of the line (utime, stime) are 12 and 13 after "pid (comm) ".
            return (long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture))
                / TicksPerSecond;
        }
        catch (IOException)
        {
            return null;
        }
    }

    /// <summary>VmRSS in MiB, or null when the process is gone.</summary>
    public static double? RssMegabytes(int pid)
    {
        try
        {
            foreach (var line in File.ReadLines($"/proc/{pid}/status"))
            {
                if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
                {
                    var kb = long.Parse(line["VmRSS:".Length..].Trim().Split(' ')[0], CultureInfo.InvariantCulture);
                    return kb / 1024.0;
                }
            }
            return null;
        }
        catch (IOException)
        {
            return null;
        }
    }
}
