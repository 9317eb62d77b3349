using System.Net;

namespace Demo.EgressGateway.Mesh;

/// <summary>
/// What the egress gateway's HTTP connection manager does to a request's headers before routing it (Envoy
/// <c>source/common/http/conn_manager_utility.cc</c>, <c>ConnectionManagerUtility::mutateRequestHeaders</c> and
/// <c>cleanInternalHeaders</c>), with Istio's gateway settings: <c>use_remote_address</c> true, no trusted hops, no
/// <c>internal_address_config</c>.
/// </summary>
public static class ConnectionManagerUtility
{
    /// <summary>Sets x-forwarded-proto and x-forwarded-for from the gateway's own downstream connection, and decides internal or edge.</summary>
    /// <remarks>x-forwarded-proto is https for the sidecar's mTLS; the peer appended to x-forwarded-for is the calling
    /// pod's (here the sidecar's own address).</remarks>
    public static void MutateGatewayRequestHeaders(HttpContext context, ProxyRuntime gateway)
    {
        var headers = context.Request.Headers;
        headers["x-forwarded-proto"] = context.Request.IsHttps ? "https" : "http";
        var peer = context.Connection.RemoteIpAddress;
        if (peer is not null)
        {
            var forwardedFor = headers["x-forwarded-for"];
            headers["x-forwarded-for"] = forwardedFor.Count == 0 ? peer.ToString() : $"{forwardedFor}, {peer}";
        }
        // Internal or edge (conn_manager_utility.cc mutateRequestHeaders): the single address in x-forwarded-for is the
        // calling pod's; Envoy ≤ 1.32 (Istio ≤ 1.24) trusts RFC 1918 and loopback addresses without an
        // internal_address_config, Envoy ≥ 1.33 (Istio ≥ 1.25) none — and Istio sets none on gateways.
        headers.Remove("x-envoy-internal");
        if (!gateway.Config.ExplicitInternalAddressConfig && peer is not null && IsPrivateOrLoopback(peer))
        {
            headers["x-envoy-internal"] = "true";
        }
        else
        {
            // An edge request: Envoy's internal headers go (cleanInternalHeaders), the peer is the external address, and
            // a new x-request-id replaces the sidecar's (preserve_external_request_id is off).
            foreach (var name in InternalOnlyHeaders)
            {
                headers.Remove(name);
            }
            if (peer is not null)
            {
                headers["x-envoy-external-address"] = peer.ToString();
            }
            headers["x-request-id"] = Guid.NewGuid().ToString();
        }
    }

    // Envoy's ConnectionManagerUtility::cleanInternalHeaders: removed from a request that is not internal (the first
    // three only from an edge request, which a request the gateway does not trust is, as it uses the remote address).
    private static readonly string[] InternalOnlyHeaders =
    [
        "x-envoy-decorator-operation", "x-envoy-downstream-service-cluster", "x-envoy-downstream-service-node",
        "x-envoy-retriable-status-codes", "x-envoy-retriable-header-names", "x-envoy-retry-on", "x-envoy-retry-grpc-on",
        "x-envoy-max-retries", "x-envoy-upstream-alt-stat-name", "x-envoy-upstream-rq-timeout-ms",
        "x-envoy-upstream-rq-per-try-timeout-ms", "x-envoy-upstream-rq-timeout-alt-response", "x-envoy-expected-rq-timeout-ms",
        "x-envoy-force-trace", "x-envoy-ip-tags", "x-envoy-original-url", "x-envoy-hedge-on-per-try-timeout",
    ];

    // Envoy's Network::Utility::isInternalAddress (the default internal addresses before Envoy 1.33): RFC 1918, loopback,
    // and IPv6 unique-local (fd00::/8) and ::1.
    private static bool IsPrivateOrLoopback(IPAddress address)
    {
        if (address.IsIPv4MappedToIPv6)
        {
            address = address.MapToIPv4();
        }
        if (IPAddress.IsLoopback(address))
        {
            return true;
        }
        var bytes = address.GetAddressBytes();
        return address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork
            ? bytes[0] == 10 || (bytes[0] == 172 && (bytes[1] & 0xF0) == 16) || (bytes[0] == 192 && bytes[1] == 168)
            : bytes[0] == 0xFD;
    }
}
