using Demo.EgressGateway.Istio;

namespace Demo.EgressGateway.Tests;

/// <summary>The host index answers every lookup as the scan over the items in order that it replaces.</summary>
public sealed class HostIndexTests
{
    private static readonly string[] Names =
    [
        "*", "*.example.com", "*.apps.example.com", "a.apps.example.com", "A.Apps.Example.com", "b.apps.example.com",
        "example.com", "*.com", "*foo", "other.org", "*.org",
    ];

    [Fact]
    public void Lookups_agree_with_a_scan_in_order()
    {
        var random = new Random(17);
        for (var round = 0; round < 200; round++)
        {
            var items = Enumerable.Range(0, random.Next(0, 8))
                .Select(i => (Id: i, Patterns: Enumerable.Range(0, random.Next(1, 3)).Select(_ => Names[random.Next(Names.Length)]).ToArray()))
                .ToList();
            var index = new HostIndex<(int Id, string[] Patterns)>(items, item => item.Patterns);
            foreach (var host in Names)
            {
                var what = $"round {round}, host {host}: {string.Join("; ", items.Select(i => string.Join(",", i.Patterns)))}";
                Assert.True(items.Where(i => i.Patterns.Any(p => HostName.Matches(p, host))).SequenceEqual(index.Matching(host)), what);
                Assert.True(items.Where(i => i.Patterns.Any(p => HostName.Matches(p, host) || HostName.Matches(host, p))).SequenceEqual(index.Overlapping(host)), what);
                Assert.Equal(items.Any(i => i.Patterns.Any(p => HostName.Matches(p, host))), index.AnyMatches(host));
                Assert.Equal(items.Any(i => i.Patterns.Any(p => HostName.Matches(p, host) || HostName.Matches(host, p))), index.AnyOverlaps(host));
            }
        }
    }

    [Fact]
    public void The_most_specific_item_is_the_first_exact_one_else_the_first_of_the_longest_wildcard()
    {
        (string Name, string Host)[] rules = [("any", "*"), ("apps", "*.apps.example.com"), ("a", "a.apps.example.com"), ("a2", "A.apps.example.com"), ("apps2", "*.APPS.example.com")];
        var index = new HostIndex<(string Name, string Host)>(rules, r => [r.Host]);

        Assert.Equal("a", index.MostSpecific("a.apps.example.com").Name);
        Assert.Equal("apps", index.MostSpecific("b.apps.example.com").Name);
        Assert.Equal("apps", index.MostSpecific("*.apps.example.com").Name);
        Assert.Equal("any", index.MostSpecific("example.org").Name);
        Assert.Null(new HostIndex<string>(["a.example.com"], h => [h]).MostSpecific("b.example.com"));
    }
}
