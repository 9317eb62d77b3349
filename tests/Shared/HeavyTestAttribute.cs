using System.Collections.Concurrent;
using System.Reflection;
using Xunit.v3;

namespace Demo.Tests;

/// <summary>
/// Runs each test of the assembly (or class) it is applied to inside a queued shared <see cref="HeavySection"/>: the
/// tests still run beside each other and beside the AppHost's stories, but not beside an exclusive section (a soak, an
/// Aspire app's cold start), which waits only for the tests already running.
/// </summary>
[AttributeUsage(AttributeTargets.Assembly | AttributeTargets.Class, AllowMultiple = false)]
public sealed class HeavyTestAttribute : BeforeAfterTestAttribute
{
    private static readonly ConcurrentDictionary<string, HeavySection> Held = new(StringComparer.Ordinal);

    /// <inheritdoc/>
    /// <remarks>xunit's hook is synchronous: the wait runs on the thread pool, off xunit's synchronization context
    /// (whose threads this very wait may be blocking).</remarks>
    public override void Before(MethodInfo methodUnderTest, IXunitTest test) =>
        Held[test.UniqueID] = Task.Run(() => HeavySection.EnterSharedQueuedAsync(test.TestDisplayName)).GetAwaiter().GetResult();

    /// <inheritdoc/>
    public override void After(MethodInfo methodUnderTest, IXunitTest test)
    {
        if (Held.TryRemove(test.UniqueID, out var section))
        {
            section.Dispose();
        }
    }
}
