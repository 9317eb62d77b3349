namespace Demo.CfApps;

/// <summary>
/// This instance's <c>CF_INSTANCE_INDEX</c>: 0 … n−1 over an app's running instances, a restarted instance taking the
/// index its predecessor had — as Diego assigns it (the index of the ActualLRP). On a platform Diego sets
/// <c>CF_INSTANCE_INDEX</c> and that value is used. Locally Aspire gives an app's replicas one environment, so each
/// instance claims the lowest free index in <see cref="CfAppOptions.InstanceIndexLeases"/> (a folder per app) by
/// holding an exclusive lock on <c>&lt;index&gt;.lock</c> for its lifetime; the OS releases it however the process ends.
/// Source: Cloud Foundry's "Cloud Foundry environment variables" (docs.cloudfoundry.org, devguide/deploy-apps/
/// environment-variable: <c>CF_INSTANCE_INDEX</c>, "the index number of the app instance"), and gorouter's
/// <c>private_instance_index</c> of <c>router.register</c>, logged as <c>app_index</c>.
/// </summary>
public sealed class InstanceIndex : IDisposable
{
    /// <summary>Highest local index tried (an app has at most 20 local instances, <c>--CfInstances</c>).</summary>
    public const int MaxLocalInstances = 64;

    private readonly FileStream? _lease;

    private InstanceIndex(string value, FileStream? lease)
    {
        Value = value;
        _lease = lease;
    }

    /// <summary>The index as CF writes it (<c>"0"</c>, <c>"1"</c>, …), or <c>""</c> when neither source gives one.</summary>
    public string Value { get; }

    /// <summary>
    /// <c>CF_INSTANCE_INDEX</c> when set; else the lowest free lease in <paramref name="leaseFolder"/> (created if
    /// missing); else no index.
    /// </summary>
    /// <exception cref="InvalidOperationException">All <see cref="MaxLocalInstances"/> leases of the folder are held.</exception>
    public static InstanceIndex Claim(string? platformIndex, string? leaseFolder)
    {
        if (!string.IsNullOrEmpty(platformIndex))
        {
            return new InstanceIndex(platformIndex, null);
        }
        if (string.IsNullOrEmpty(leaseFolder))
        {
            return new InstanceIndex("", null);
        }
        Directory.CreateDirectory(leaseFolder);
        for (var index = 0; index < MaxLocalInstances; index++)
        {
            try
            {
                // FileShare.None takes an exclusive advisory lock (flock) on Unix: held, the open fails.
                var lease = new FileStream(Path.Combine(leaseFolder, $"{index}.lock"), FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
                return new InstanceIndex(index.ToString(System.Globalization.CultureInfo.InvariantCulture), lease);
            }
            catch (IOException)
            {
            }
        }
        throw new InvalidOperationException($"CfApp:InstanceIndexLeases '{leaseFolder}': all {MaxLocalInstances} instance indexes are held.");
    }

    /// <summary>Releases the lease (a later instance may take the index).</summary>
    public void Dispose() => _lease?.Dispose();
}
