namespace Demo.EgressGateway.Tests;

/// <summary>
/// Values at the edges of what the loader accepts still serve requests: no exception on the request path (a timeout
/// of 10 years used to make every request a 500, since .NET's timers stop at about 24.8 days).
/// </summary>
public sealed class ExtremeValueTests
{
    // The 504 body is Envoy's local reply "upstream request timeout" (envoy source/common/router/router.cc, Filter::onUpstreamTimeoutAbort).

    private const string Sidecar = "virtual-service-hello.yaml";

    // Each row states what Envoy answers: huge durations and limits are just large (the request succeeds long before);
    // a 1 ms route timeout fires before an upstream that takes 50 ms can answer (504 UT).
    [Theory]
    [InlineData("timeout: 5s", "timeout: 87600h", Sidecar, 200)]
    [InlineData("perTryTimeout: 2s", "perTryTimeout: 87600h", Sidecar, 200)]
    [InlineData("timeout: 5s", "timeout: 1ms", Sidecar, 504)]
    [InlineData("attempts: 2", "attempts: 100", Sidecar, 200)]
    [InlineData("perTryTimeout: 2s", "perTryTimeout: 2s\n        backoff: 87600h", Sidecar, 200)]
    [InlineData("        outlierDetection:\n", "        connectionPool:\n          tcp:\n            connectTimeout: 87600h\n        outlierDetection:\n", "destination-rule-hello-istio-v1.yaml", 200)]
    [InlineData("        outlierDetection:\n", "        connectionPool:\n          tcp:\n            connectTimeout: 10s\n            maxConnections: 2147483647\n        outlierDetection:\n", "destination-rule-hello-istio-v1.yaml", 200)]
    [InlineData("          baseEjectionTime: 15s", "          baseEjectionTime: 87600h", "destination-rule-hello-istio-v1.yaml", 200)]
    public async Task Edge_values_of_a_route_still_answer_as_Envoy_would(string find, string replacement, string file, int expected)
    {
        await using var gateway = await GatewayHost.StartAsync(folder =>
        {
            RoutingTests.NoFaults(folder);
            // Every request to v1, whose DestinationRule some rows edit.
            var text = folder.Read(Sidecar);
            var first = text.IndexOf("weight: 50", StringComparison.Ordinal);
            text = text[..first] + "weight: 100" + text[(first + "weight: 50".Length)..];
            folder.Write(Sidecar, text.Replace("weight: 50", "weight: 0", StringComparison.Ordinal));
            folder.Replace(file, find, replacement);
        });
        gateway.Upstream.Behaviour = async context =>
        {
            await Task.Delay(TimeSpan.FromMilliseconds(50), context.RequestAborted);
            return false;
        };

        for (var i = 0; i < 3; i++)
        {
            var (status, body) = await gateway.GetAsync();
            Assert.True(status == expected, $"{status} {body}\n{string.Join("\n", gateway.Logs.Messages())}");
            switch (expected)
            {
                case 200: Assert.Equal("Hello K8s, from CF v1 service!", body); break;
                case 504: Assert.Equal("upstream request timeout", body); break;
                default: Assert.StartsWith("upstream connect error or disconnect/reset before headers", body, StringComparison.Ordinal); break;
            }
        }
    }
}

public sealed class RetryPolicyLimitTests
{
    [Fact]
    public void Huge_durations_become_the_longest_timer_dotnet_can_arm()
    {
        var policy = new Demo.EgressGateway.Mesh.RetryState(new Demo.EgressGateway.Envoy.RetryPolicy(
            "5xx", 3, TimeSpan.FromDays(3650), [], 5, [], new Demo.EgressGateway.Envoy.RetryBackOff(TimeSpan.FromDays(3650))));
        for (var attempt = 0; attempt < 30; attempt++)
        {
            var delay = policy.Backoff(attempt);
            // The cap RetryState.MaxTimer documents, as a literal: int.MaxValue ms (about 24.8 days).
            Assert.InRange(delay, TimeSpan.Zero, TimeSpan.FromMilliseconds(int.MaxValue));
        }
        Assert.NotNull(policy.BuildPipeline(TimeSpan.FromDays(3650), _ => true));
    }
}
