namespace Demo.AppHost.Tests;

/// <summary>The AppHost's own settings: a bad value stops it before anything starts, naming setting and value.</summary>
public sealed class AppHostSettingsTests
{
    [Theory]
    [InlineData("0")]
    [InlineData("21")]
    [InlineData("two")]
    [InlineData("-1")]
    public async Task CfInstances_outside_1_to_20_is_refused_naming_the_setting_and_value(string value)
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromMinutes(1));
        var error = await Assert.ThrowsAnyAsync<Exception>(async () =>
        {
            var builder = await DistributedApplicationTestingBuilder.CreateAsync<Projects.Demo_AppHost>([$"CfInstances={value}"], cts.Token);
            await using var app = await builder.BuildAsync(cts.Token);
        });

        var message = error.ToString();
        Assert.Contains($"--CfInstances '{value}' is not a number of instances from 1 to 20", message, StringComparison.Ordinal);
    }
}
