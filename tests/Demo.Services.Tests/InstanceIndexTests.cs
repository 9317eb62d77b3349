using Demo.CfApps;

namespace Demo.Services.Tests;

/// <summary>
/// <c>CF_INSTANCE_INDEX</c> as Diego gives it: 0 … n−1 over an app's running instances, and a restarted instance takes
/// the index that was freed; the platform's value wins when there is one.
/// </summary>
public sealed class InstanceIndexTests
{
    [Fact]
    public void Instances_of_one_app_take_0_1_2_and_a_restarted_one_takes_the_freed_index()
    {
        var folder = Directory.CreateTempSubdirectory("demo-cf-index-").FullName;
        try
        {
            using var first = InstanceIndex.Claim(null, folder);
            var second = InstanceIndex.Claim(null, folder);
            using var third = InstanceIndex.Claim(null, folder);
            Assert.Equal(["0", "1", "2"], new[] { first.Value, second.Value, third.Value });

            second.Dispose();
            using var restarted = InstanceIndex.Claim(null, folder);
            Assert.Equal("1", restarted.Value);
            using var fourth = InstanceIndex.Claim(null, folder);
            Assert.Equal("3", fourth.Value);
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    [Fact]
    public void The_platforms_CF_INSTANCE_INDEX_wins_and_without_either_there_is_no_index()
    {
        using var platform = InstanceIndex.Claim("4", Path.Combine(Path.GetTempPath(), "never-created-" + Guid.NewGuid().ToString("N")));
        Assert.Equal("4", platform.Value);
        using var none = InstanceIndex.Claim(null, null);
        Assert.Equal("", none.Value);
    }

    [Fact]
    public void When_every_index_is_held_the_error_names_the_setting_and_folder()
    {
        var folder = Directory.CreateTempSubdirectory("demo-cf-index-").FullName;
        var held = new List<InstanceIndex>();
        try
        {
            for (var i = 0; i < InstanceIndex.MaxLocalInstances; i++)
            {
                held.Add(InstanceIndex.Claim(null, folder));
            }
            var error = Assert.Throws<InvalidOperationException>(() => InstanceIndex.Claim(null, folder));
            Assert.Contains("CfApp:InstanceIndexLeases", error.Message, StringComparison.Ordinal);
            Assert.Contains(folder, error.Message, StringComparison.Ordinal);
        }
        finally
        {
            held.ForEach(h => h.Dispose());
            Directory.Delete(folder, recursive: true);
        }
    }
}
