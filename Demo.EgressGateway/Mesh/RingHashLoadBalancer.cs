using System.IO.Hashing;
using System.Text;
using Demo.EgressGateway.Envoy;

namespace Demo.EgressGateway.Mesh;

/// <summary>
/// Envoy's ring hash load balancer (<c>source/extensions/load_balancing_policies/ring_hash/ring_hash_lb.cc</c>) for a
/// cluster of equally weighted hosts: each host gets <c>ceil(minimum_ring_size / hosts)</c> points on a ring, the
/// xxHash64 of <c>"&lt;address&gt;:&lt;port&gt;_&lt;i&gt;"</c>; a request's hash picks the first point at or after it
/// (wrapping), a retry that must avoid its previous hosts the next points. The ring is built over the healthy hosts,
/// as Envoy rebuilds it when the healthy set changes. Istio's MAGLEV clusters use the same ring here: which host a key
/// lands on differs from Envoy's Maglev table, the stickiness of a key does not.
/// </summary>
public sealed class RingHashLoadBalancer
{
    /// <summary>Envoy's default <c>minimum_ring_size</c>.</summary>
    public const long DefaultMinimumRingSize = 1024;

    private const long MaximumRingSize = 8 * 1024 * 1024;

    private readonly long _minimumRingSize;
    private (string Key, (ulong Hash, HostRuntime Host)[] Ring)? _ring;

    public RingHashLoadBalancer(long? minimumRingSize) => _minimumRingSize = Math.Clamp(minimumRingSize ?? DefaultMinimumRingSize, 1, MaximumRingSize);

    /// <summary>The host for <paramref name="hash"/> among <paramref name="healthy"/>; <paramref name="attempt"/> 0 for the first pick, n for the n-th one after it on the ring.</summary>
    public HostRuntime Pick(IReadOnlyList<HostRuntime> healthy, ulong hash, int attempt)
    {
        var ring = RingOf(healthy);
        int low = 0, high = ring.Length;
        while (low < high)
        {
            var middle = (low + high) / 2;
            if (ring[middle].Hash < hash)
            {
                low = middle + 1;
            }
            else
            {
                high = middle;
            }
        }
        return ring[(low + attempt) % ring.Length].Host;
    }

    /// <summary>
    /// Envoy's HashPolicyImpl::generateHash: each policy that finds its key (a header's value, a query parameter's
    /// value, the downstream source IP) hashes it with xxHash64, combined as <c>rotl(hash, 1) ^ next</c>; null when
    /// none does (the load balancer then picks at random).
    /// </summary>
    public static ulong? RequestHash(IReadOnlyList<HashPolicy> policies, HttpContext context)
    {
        ulong? hash = null;
        foreach (var policy in policies)
        {
            var key = policy.Header is { } header ? context.Request.Headers[header.HeaderName].ToString()
                : policy.QueryParameter is { } query ? context.Request.Query[query.Name].ToString()
                : context.Connection.RemoteIpAddress?.ToString() ?? "";
            if (key.Length == 0)
            {
                continue;
            }
            var next = XxHash64.HashToUInt64(Encoding.UTF8.GetBytes(key));
            hash = hash is { } previous ? ((previous << 1) | (previous >> 63)) ^ next : next;
        }
        return hash;
    }

    private (ulong Hash, HostRuntime Host)[] RingOf(IReadOnlyList<HostRuntime> hosts)
    {
        var key = string.Join(',', hosts.Select(h => $"{h.Endpoint.Address}:{h.Endpoint.PortValue}"));
        if (_ring is { } cached && cached.Key == key)
        {
            return cached.Ring;
        }
        var perHost = (int)Math.Ceiling(_minimumRingSize / (double)hosts.Count);
        var ring = hosts
            .SelectMany(host => Enumerable.Range(0, perHost).Select(i =>
                (XxHash64.HashToUInt64(Encoding.UTF8.GetBytes($"{host.Endpoint.Address}:{host.Endpoint.PortValue}_{i}")), host)))
            .OrderBy(point => point.Item1)
            .ToArray();
        _ring = (key, ring);
        return ring;
    }
}
