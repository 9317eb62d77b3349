using System.Globalization;

namespace Demo.EgressGateway.Tests;

/// <summary>
/// Pearson's chi-square goodness-of-fit test, the one statistical test of every suite (shared with the conformance
/// suite): one sample, one test over the joint outcome, the statistic always written to the test output.
/// </summary>
public static class ChiSquare
{
    /// <summary>
    /// The significance level of every statistical test. Each suite run makes about thirty of them, all on correct
    /// behaviour, so α is the rate at which CI fails by chance: α = 0.001 failed CI about once in a hundred runs, and
    /// α = 0.0001 once in the thirteen clean-clone runs of a proof series (a 4.5σ sample of a correct 60/50 split). At
    /// α = 0.000001 a run fails by chance about once in 30 000, while a wrong weight still gives a statistic far above
    /// the critical value: a 3-point shift over 10 000 requests (50/50 sampled as 53/47: χ² = 36, critical 23.9 at one
    /// degree of freedom) or a 10-point one over 1 000 (χ² = 40).
    /// </summary>
    public const double Alpha = 0.000001;

    // Upper α = 0.000001 points of the chi-square distribution by degrees of freedom (the survival function solved
    // numerically; for 2 df it is −2 ln α exactly, for 1 df the square of the two-sided normal point 4.8916).
    private static readonly Dictionary<int, double> Critical = new() { [1] = 23.928, [2] = 27.631, [3] = 30.665, [4] = 33.377 };

    /// <summary>The critical value at <see cref="Alpha"/> for <paramref name="degrees"/> degrees of freedom.</summary>
    public static double CriticalValue(int degrees) => Critical.TryGetValue(degrees, out var value)
        ? value
        : throw new ArgumentOutOfRangeException(nameof(degrees), degrees, "no critical value tabled for these degrees of freedom");

    /// <summary>
    /// Tests observed counts against expected shares (relative weights, normalised to their sum) over the sample's
    /// total; writes the observed and expected counts, χ², the degrees of freedom and the critical value to
    /// <paramref name="output"/>, then fails when χ² reaches the critical value at <see cref="Alpha"/>.
    /// </summary>
    /// <param name="output">The test's output: the statistic is written there whether the test passes or fails.</param>
    /// <param name="what">What was sampled, for the line written.</param>
    /// <param name="cells">Each outcome with its observed count and its expected relative weight (positive).</param>
    /// <returns>The statistic χ².</returns>
    public static double AssertFits(ITestOutputHelper output, string what, params (string Outcome, int Observed, double Weight)[] cells)
    {
        if (cells.Length < 2 || cells.Any(c => c.Weight <= 0))
        {
            throw new ArgumentException("a goodness-of-fit test needs two or more outcomes, each with a positive expected weight", nameof(cells));
        }
        var total = cells.Sum(c => c.Observed);
        var weights = cells.Sum(c => c.Weight);
        var expected = cells.Select(c => total * c.Weight / weights).ToArray();
        var statistic = cells.Select((c, i) => Math.Pow(c.Observed - expected[i], 2) / expected[i]).Sum();
        var degrees = cells.Length - 1;
        var critical = CriticalValue(degrees);
        var summary = string.Create(CultureInfo.InvariantCulture,
            $"{what}: observed {string.Join(", ", cells.Select(c => $"{c.Outcome} {c.Observed}"))} of {total} "
            + $"(expected {string.Join(", ", cells.Select((c, i) => $"{c.Outcome} {expected[i]:0.#}"))}); "
            + $"χ² = {statistic:0.###}, df = {degrees}, critical value at α = {Alpha}: {critical}");
        output.WriteLine(summary);
        Assert.True(statistic < critical, summary);
        return statistic;
    }

    /// <summary>
    /// Tests that each outcome of a sequence is independent of the one before it (the Anderson–Goodman test of a
    /// first-order Markov chain: Pearson's χ² over the k × k table of consecutive pairs against the products of its
    /// margins, (k − 1)² degrees of freedom). A sampler that draws per request, as Envoy's router picks a weighted
    /// cluster from each stream's random value, passes; a weighted round-robin, whose next pick follows from the last,
    /// fails however well its counts fit the weights.
    /// </summary>
    /// <param name="output">The test's output: the table and statistic are written there whether the test passes or fails.</param>
    /// <param name="what">What was sampled, for the line written.</param>
    /// <param name="sequence">The outcomes in the order they were drawn; at least two distinct outcomes.</param>
    /// <returns>The statistic χ².</returns>
    public static double AssertIndependent(ITestOutputHelper output, string what, IReadOnlyList<string> sequence)
    {
        var outcomes = sequence.Distinct().Order(StringComparer.Ordinal).ToArray();
        if (outcomes.Length < 2 || outcomes.Length > 3)
        {
            throw new ArgumentException("an independence test here needs two or three distinct outcomes", nameof(sequence));
        }
        var index = outcomes.Select((o, i) => (o, i)).ToDictionary(p => p.o, p => p.i, StringComparer.Ordinal);
        var table = new int[outcomes.Length, outcomes.Length];
        for (var i = 1; i < sequence.Count; i++)
        {
            table[index[sequence[i - 1]], index[sequence[i]]]++;
        }
        var pairs = sequence.Count - 1;
        var rows = Enumerable.Range(0, outcomes.Length).Select(r => Enumerable.Range(0, outcomes.Length).Sum(c => table[r, c])).ToArray();
        var columns = Enumerable.Range(0, outcomes.Length).Select(c => Enumerable.Range(0, outcomes.Length).Sum(r => table[r, c])).ToArray();
        var statistic = 0.0;
        var cells = new List<string>();
        for (var r = 0; r < outcomes.Length; r++)
        {
            for (var c = 0; c < outcomes.Length; c++)
            {
                var expected = (double)rows[r] * columns[c] / pairs;
                statistic += expected > 0 ? Math.Pow(table[r, c] - expected, 2) / expected : 0;
                cells.Add(string.Create(CultureInfo.InvariantCulture, $"{outcomes[r]}→{outcomes[c]} {table[r, c]} (expected {expected:0.#})"));
            }
        }
        var degrees = (outcomes.Length - 1) * (outcomes.Length - 1);
        var critical = CriticalValue(degrees);
        var summary = string.Create(CultureInfo.InvariantCulture,
            $"{what}: consecutive pairs {string.Join(", ", cells)} of {pairs}; χ² = {statistic:0.###}, df = {degrees}, "
            + $"critical value at α = {Alpha}: {critical}");
        output.WriteLine(summary);
        Assert.True(statistic < critical, summary);
        return statistic;
    }
}
