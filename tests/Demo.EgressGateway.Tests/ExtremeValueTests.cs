namespace Demo.EgressGateway.Tests;

/// <summary>
/// Values at the edges of what the loader accepts still serve requests: no exception on the request path (a timeout
/// of 10 years used to make every request a 500, since .NET's timers stop at about 24.8 days).
/// </summary>
public sealed class ExtremeValueTests
{
    private const string Sidecar = "virtual-service-hello.yaml";

    [Theory]
    [InlineData("timeout: 5s", "timeout: 87600h")]
    [InlineData("perTryTimeout: 2s", "perTryTimeout: 87600h")]
    [InlineData("timeout: 5s", "timeout: 1ms")]
    [InlineData("attempts: 2", "attempts: 100")]
    [InlineData("perTryTimeout: 2s", "perTryTimeout: 2s\n        backoff: 87600h")]
    [InlineData("    outlierDetection:\n", "    connectionPool:\n      tcp:\n        connectTimeout: 87600h\n    outlierDetection:\n", "destination-rule-hello-istio-v1.yaml")]
    [InlineData("    outlierDetection:\n", "    connectionPool:\n      tcp:\n        connectTimeout: 1ms\n        maxConnections: 2147483647\n    outlierDetection:\n", "destination-rule-hello-istio-v1.yaml")]
    [InlineData("      baseEjectionTime: 15s", "      baseEjectionTime: 87600h", "destination-rule-hello-istio-v1.yaml")]
    public async Task Edge_values_of_a_route_still_answer_without_an_internal_error(string find, string replacement, string file = Sidecar)
    {
        await using var gateway = await GatewayHost.StartAsync(folder =>
        {
            RoutingTests.NoFaults(folder);
            folder.Replace(file, find, replacement);
        });

        for (var i = 0; i < 5; i++)
        {
            var (status, body) = await gateway.GetAsync();
            Assert.True(status is 200 or 503 or 504, $"{status} {body}");
            Assert.NotEqual(500, status);
        }
    }
}

public sealed class RetryPolicyLimitTests
{
    [Fact]
    public void Huge_durations_become_the_longest_timer_dotnet_can_arm()
    {
        var policy = new Demo.EgressGateway.Mesh.RetryPolicy(new Demo.EgressGateway.Envoy.RetryPolicy(
            "5xx", 3, TimeSpan.FromDays(3650), [], TimeSpan.FromDays(3650), 5, []));
        for (var attempt = 0; attempt < 30; attempt++)
        {
            var delay = policy.Backoff(attempt);
            Assert.InRange(delay, TimeSpan.Zero, Demo.EgressGateway.Mesh.RetryPolicy.MaxTimer);
        }
        Assert.NotNull(policy.BuildPipeline(TimeSpan.FromDays(3650), _ => true));
    }
}
