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
            var key = policy.Cookie is { } cookie ? CookieKey(cookie, context)
                : policy.Header is { } header ? context.Request.Headers[header.HeaderName].ToString()
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

    /// <summary>The <c>HttpContext.Items</c> key of the Set-Cookie values the router adds to the downstream response.</summary>
    public const string DownstreamSetCookiesKey = "envoy.router.downstream_set_cookies";

    // hash_policy.cc CookieHashMethod: the cookie's value; without one and with a ttl, the router's
    // addDownstreamSetCookie makes one — the hex xxHash64 of the connection's remote and local addresses, the same for
    // every stream of the connection — and sets it on the response (Http::Utility::makeSetCookieValue:
    // name="value"; Max-Age=ttl unless 0; Path=path; attributes; HttpOnly). Without a ttl, no cookie: no hash key.
    private static string CookieKey(CookieHashPolicy cookie, HttpContext context)
    {
        if (context.Request.Cookies.TryGetValue(cookie.Name, out var value) && value.Length > 0)
        {
            return value.Trim('"');
        }
        if (cookie.Ttl is not { } ttl)
        {
            return "";
        }
        var connection = context.Connection;
        var addresses = $"{Endpoint(connection.RemoteIpAddress, connection.RemotePort)}{Endpoint(connection.LocalIpAddress, connection.LocalPort)}";
        var generated = XxHash64.HashToUInt64(Encoding.UTF8.GetBytes(addresses)).ToString("x16", System.Globalization.CultureInfo.InvariantCulture);
        var setCookie = new StringBuilder($"{cookie.Name}=\"{generated}\"");
        if (ttl > TimeSpan.Zero)
        {
            setCookie.Append(System.Globalization.CultureInfo.InvariantCulture, $"; Max-Age={(long)ttl.TotalSeconds}");
        }
        if (cookie.Path is { Length: > 0 } path)
        {
            setCookie.Append("; Path=").Append(path);
        }
        foreach (var attribute in cookie.Attributes)
        {
            setCookie.Append("; ").Append(attribute.Name);
            if (attribute.Value is { Length: > 0 } attributeValue)
            {
                setCookie.Append('=').Append(attributeValue);
            }
        }
        setCookie.Append("; HttpOnly");
        var cookies = context.Items[DownstreamSetCookiesKey] as List<string> ?? [];
        context.Items[DownstreamSetCookiesKey] = cookies;
        if (!cookies.Contains(setCookie.ToString()))
        {
            cookies.Add(setCookie.ToString());
        }
        return generated;
    }

    // Envoy's Address::asString: 127.0.0.1:80, [::1]:80.
    private static string Endpoint(System.Net.IPAddress? address, int port) => address is null ? "" : new System.Net.IPEndPoint(address, port).ToString();

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
