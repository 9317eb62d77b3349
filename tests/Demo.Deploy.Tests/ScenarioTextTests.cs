using System.Globalization;

namespace Demo.Deploy.Tests;

/// <summary>What the scenario files say about their effect is computed from their numbers, not guessed.</summary>
public sealed class ScenarioTextTests
{
    /// <summary>
    /// Envoy's router (envoyproxy docs: route timeout, per_try_timeout, retry_on 5xx) cuts a delayed try at
    /// <c>perTryTimeout</c> and retries while tries remain (<c>attempts</c> retries) and the route <c>timeout</c> has
    /// not passed; a request fails with 504 only when every try that starts before the timeout is delayed (a delay
    /// longer than perTryTimeout never answers in time). Tries are independent, each delayed with the fault's
    /// percentage; the retry back-off (25 ms base) is small against the seconds involved.
    /// </summary>
    [Fact]
    public void The_delay_scenario_states_the_share_of_504s_its_numbers_give()
    {
        var path = Path.Combine(Scenarios.Folder, "virtual-service-hello-egress-fault-delay.yaml");
        var delay = RenderedDocument.ParseAll(File.ReadAllText(path)).Single().Spec["http"]!.AsArray()
            .Select(r => r!["fault"]!["delay"]!).Distinct().ToList();
        var percentage = delay.Select(d => double.Parse(d!["percentage"]!["value"]!.ToJsonString(), CultureInfo.InvariantCulture)).Distinct().Single() / 100;
        var fixedDelay = delay.Select(d => Seconds((string)d!["fixedDelay"]!)).Distinct().Single();
        var route = RenderedDocument.ParseAll(File.ReadAllText(Path.Combine(Repository.DeployIstio, "virtual-service-hello.yaml"))).Single().Spec["http"]![0]!;
        var timeout = Seconds((string)route["timeout"]!);
        var perTry = Seconds((string)route["retries"]!["perTryTimeout"]!);
        var attempts = (int)(long)route["retries"]!["attempts"]!;

        Assert.True(fixedDelay > perTry, "a delayed try would answer in time; the computation below does not hold");
        var tries = Math.Min(attempts + 1, (int)Math.Ceiling(timeout / perTry));
        var share = Math.Pow(percentage, tries);

        Assert.Equal(3, tries);
        var text = File.ReadAllText(path);
        Assert.Contains($"{(share * 100).ToString("0.#", CultureInfo.InvariantCulture)}% of requests get a 504", text, StringComparison.Ordinal);
        var readme = File.ReadAllText(Path.Combine(Repository.Root, "README.md"));
        Assert.Contains($"{(share * 100).ToString("0.#", CultureInfo.InvariantCulture)}% of requests get a 504", readme, StringComparison.Ordinal);
    }

    /// <summary>A protobuf-style duration as the scenarios write them: a number and s or ms.</summary>
    private static double Seconds(string duration) => duration.EndsWith("ms", StringComparison.Ordinal)
        ? double.Parse(duration[..^2], CultureInfo.InvariantCulture) / 1000
        : double.Parse(duration.TrimEnd('s'), CultureInfo.InvariantCulture);
}
