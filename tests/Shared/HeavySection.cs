using System.Diagnostics;
using Microsoft.Win32.SafeHandles;

namespace Demo.Tests;

/// <summary>
/// A machine-wide reader/writer lock for the parts of the suite that must not share the machine's cores: a soak's
/// open-loop load (bench/soak.sh) and the AppHost fixture's cold start (DCP launching every project with
/// <c>dotnet run</c>, until the caller gets answers) are <em>exclusive</em>; the AppHost's timed stories, a
/// <c>dotnet run</c> of the AppHost and each test of a CPU-heavy assembly (<see cref="HeavyTestAttribute"/>) are
/// <em>shared</em> (they may overlap each other, but not an exclusive section). Microsoft.Testing.Platform runs two test assemblies at a time, so without it the Bench
/// assembly's soak meets the AppHost assembly's start-ups: the soak's chain then gets a fraction of a core for
/// seconds, its requests queue past the route's per-try and route timeouts, and it measures the neighbour.
/// </summary>
/// <remarks>
/// Two <c>flock(2)</c> locks on files in the temp folder, taken by the runtime itself when it opens them: on Unix,
/// .NET locks a file opened with <see cref="FileShare.None"/> with <c>LOCK_EX</c> and one opened for reading with
/// any other share with <c>LOCK_SH</c>, and fails the open with an <see cref="IOException"/> when that would block.
/// The kernel releases the locks when their holder exits, so a crashed test host never leaves one held. A turnstile gives a waiting exclusive section priority: once it waits,
/// no new shared section starts, so it waits only for those already running (each at most a start-up, a story or an
/// AppHost run). A process that already holds a shared section enters another without the turnstile: the waiting
/// exclusive section waits for that process anyway, and making it wait for its own second section would deadlock.
/// </remarks>
internal sealed class HeavySection : IDisposable
{
    private static readonly string LockPath = Path.Combine(Path.GetTempPath(), "demo-egress-tests.heavy.lock");
    private static readonly string TurnstilePath = LockPath + ".turnstile";
    private static readonly TimeSpan DefaultTimeout = TimeSpan.FromMinutes(10);

    private static int s_sharedHeld;
    private readonly SafeFileHandle[] _held;
    private readonly bool _shared;

    private HeavySection(bool shared, params SafeFileHandle[] held)
    {
        _shared = shared;
        _held = held;
        if (shared)
        {
            Interlocked.Increment(ref s_sharedHeld);
        }
    }

    /// <summary>Waits until no other section (shared or exclusive) runs on this machine; holds it until disposed.</summary>
    /// <exception cref="TimeoutException">The lock stayed busy for longer than <paramref name="timeout"/> (10 minutes if null).</exception>
    /// <exception cref="InvalidOperationException">This process holds a shared section: it would wait for itself.</exception>
    public static async Task<HeavySection> EnterExclusiveAsync(string name, TimeSpan? timeout = null, CancellationToken cancellationToken = default)
    {
        if (Volatile.Read(ref s_sharedHeld) > 0)
        {
            throw new InvalidOperationException($"'{name}' asks for the exclusive section while this process holds a shared one.");
        }
        var waited = Stopwatch.StartNew();
        var limit = timeout ?? DefaultTimeout;
        var turnstile = await AcquireAsync(TurnstilePath, exclusive: true, name, waited, limit, cancellationToken);
        try
        {
            return new HeavySection(false, await AcquireAsync(LockPath, exclusive: true, name, waited, limit, cancellationToken), turnstile);
        }
        catch
        {
            turnstile.Dispose();
            throw;
        }
    }

    /// <summary>Waits until no exclusive section runs or waits; holds a shared section until disposed.</summary>
    /// <exception cref="TimeoutException">The lock stayed busy for longer than <paramref name="timeout"/> (10 minutes if null).</exception>
    public static async Task<HeavySection> EnterSharedAsync(string name, TimeSpan? timeout = null, CancellationToken cancellationToken = default)
    {
        var waited = Stopwatch.StartNew();
        var limit = timeout ?? DefaultTimeout;
        if (Volatile.Read(ref s_sharedHeld) > 0)
        {
            return new HeavySection(true, await AcquireAsync(LockPath, exclusive: false, name, waited, limit, cancellationToken));
        }
        using var turnstile = await AcquireAsync(TurnstilePath, exclusive: true, name, waited, limit, cancellationToken);
        return new HeavySection(true, await AcquireAsync(LockPath, exclusive: false, name, waited, limit, cancellationToken));
    }

    /// <summary>
    /// Like <see cref="EnterSharedAsync"/>, but always behind the turnstile, even when this process already holds a
    /// shared section: for sections that never nest — one per test of a CPU-heavy assembly run in parallel — so that a
    /// waiting exclusive section waits only for the tests already running, not for a stream of overlapping ones.
    /// </summary>
    /// <exception cref="TimeoutException">The lock stayed busy for longer than <paramref name="timeout"/> (10 minutes if null).</exception>
    public static async Task<HeavySection> EnterSharedQueuedAsync(string name, TimeSpan? timeout = null, CancellationToken cancellationToken = default)
    {
        var waited = Stopwatch.StartNew();
        var limit = timeout ?? DefaultTimeout;
        using var turnstile = await AcquireAsync(TurnstilePath, exclusive: true, name, waited, limit, cancellationToken);
        return new HeavySection(true, await AcquireAsync(LockPath, exclusive: false, name, waited, limit, cancellationToken));
    }

    private static async Task<SafeFileHandle> AcquireAsync(string path, bool exclusive, string name, Stopwatch waited, TimeSpan limit,
        CancellationToken cancellationToken)
    {
        while (true)
        {
            try
            {
                return exclusive
                    ? File.OpenHandle(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None)
                    : File.OpenHandle(path, FileMode.OpenOrCreate, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
            }
            catch (IOException) when (waited.Elapsed < limit)
            {
                await Task.Delay(TimeSpan.FromMilliseconds(100), cancellationToken);
            }
            catch (IOException ex)
            {
                throw new TimeoutException($"'{name}' waited {limit} for {path} (another heavy section of the suite held it)", ex);
            }
        }
    }

    public void Dispose()
    {
        foreach (var handle in _held)
        {
            handle.Dispose();
        }
        if (_shared)
        {
            Interlocked.Decrement(ref s_sharedHeld);
        }
    }
}
