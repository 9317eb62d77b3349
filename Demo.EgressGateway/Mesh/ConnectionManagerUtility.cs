using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using Demo.EgressGateway.Envoy;

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

    /// <summary>The header Envoy's forward_client_cert_details governs.</summary>
    public const string ForwardedClientCert = "x-forwarded-client-cert";

    /// <summary>
    /// Envoy's <c>ConnectionManagerUtility::mutateXfccRequestHeader</c> for <paramref name="manager"/>'s
    /// <c>forward_client_cert_details</c> (null: SANITIZE): ALWAYS_FORWARD_ONLY keeps the header; SANITIZE, or a
    /// connection without a client certificate, removes it; FORWARD_ONLY keeps it; SANITIZE_SET sets, APPEND_FORWARD
    /// appends (with <c>,</c>) <c>By=&lt;each URI SAN of the local certificate&gt;;Hash=&lt;hex SHA-256 of the client's
    /// DER&gt;</c> and, in Envoy's order, <c>Cert="&lt;URL-encoded PEM&gt;"</c>, <c>Subject="&lt;RFC 2253&gt;"</c>
    /// (present even when empty), <c>URI=&lt;each URI SAN&gt;</c> (<c>URI=</c> when none) and <c>DNS=&lt;each DNS
    /// SAN&gt;</c>, as set_current_client_cert_details asks (Chain is not produced).
    /// </summary>
    public static void MutateXfccRequestHeader(IHeaderDictionary headers, HttpConnectionManager? manager,
        X509Certificate2? clientCertificate, X509Certificate? localCertificate)
    {
        var mode = manager?.ForwardClientCertDetails ?? "SANITIZE";
        if (mode == "ALWAYS_FORWARD_ONLY")
        {
            return;
        }
        if (mode == "SANITIZE" || clientCertificate is null)
        {
            headers.Remove(ForwardedClientCert);
            return;
        }
        if (mode == "FORWARD_ONLY")
        {
            return;
        }
        var details = new List<string>();
        if (localCertificate is not null)
        {
            details.AddRange(MeshCertificateAuthority.UriSans(localCertificate).Select(uri => "By=" + uri));
        }
        details.Add("Hash=" + Convert.ToHexStringLower(SHA256.HashData(clientCertificate.RawData)));
        var set = manager?.SetCurrentClientCertDetails;
        if (set?.Cert == true)
        {
            details.Add($"Cert=\"{UrlEncodedPem(clientCertificate)}\"");
        }
        if (set?.Subject == true)
        {
            details.Add($"Subject=\"{Rfc2253(clientCertificate.SubjectName)}\"");
        }
        if (set?.Uri == true)
        {
            var uris = MeshCertificateAuthority.UriSans(clientCertificate);
            details.AddRange(uris.Count == 0 ? ["URI="] : uris.Select(uri => "URI=" + uri));
        }
        if (set?.Dns == true)
        {
            details.AddRange(clientCertificate.Extensions.OfType<X509SubjectAlternativeNameExtension>()
                .SelectMany(san => san.EnumerateDnsNames()).Select(dns => "DNS=" + dns));
        }
        var value = string.Join(';', details);
        headers[ForwardedClientCert] = mode == "APPEND_FORWARD" && headers[ForwardedClientCert] is { Count: > 0 } existing
            ? $"{existing},{value}"
            : value;
    }

    // Envoy's urlEncodedPemEncodedPeerCertificate: the PEM (OpenSSL's 64-character lines, a final newline) with the
    // characters a base64 PEM holds that are not URL-safe percent-encoded.
    private static string UrlEncodedPem(X509Certificate2 certificate) =>
        (certificate.ExportCertificatePem().ReplaceLineEndings("\n") + "\n")
            .Replace("\n", "%0A", StringComparison.Ordinal).Replace(" ", "%20", StringComparison.Ordinal)
            .Replace("+", "%2B", StringComparison.Ordinal).Replace("/", "%2F", StringComparison.Ordinal)
            .Replace("=", "%3D", StringComparison.Ordinal);

    // OpenSSL's X509_NAME_print_ex with XN_FLAG_RFC2253 (Envoy's subjectPeerCertificate): the RDNs last to first,
    // comma-separated, short names, RFC 2253 escaping.
    private static string Rfc2253(X500DistinguishedName name)
    {
        var parts = new List<string>();
        foreach (var rdn in name.EnumerateRelativeDistinguishedNames(reversed: true))
        {
            var oid = rdn.GetSingleElementType();
            var label = oid.Value switch
            {
                "2.5.4.3" => "CN", "2.5.4.6" => "C", "2.5.4.7" => "L", "2.5.4.8" => "ST", "2.5.4.10" => "O", "2.5.4.11" => "OU",
                "2.5.4.9" => "STREET", "0.9.2342.19200300.100.1.25" => "DC", "0.9.2342.19200300.100.1.1" => "UID",
                "1.2.840.113549.1.9.1" => "emailAddress", _ => oid.Value,
            };
            parts.Add($"{label}={Escape(rdn.GetSingleElementValue() ?? "")}");
        }
        return string.Join(',', parts);

        static string Escape(string value)
        {
            var text = new StringBuilder();
            for (var i = 0; i < value.Length; i++)
            {
                var c = value[i];
                if (",+\"\\<>;".Contains(c, StringComparison.Ordinal) || (i == 0 && c is '#' or ' ') || (i == value.Length - 1 && c == ' '))
                {
                    text.Append('\\');
                }
                text.Append(c);
            }
            return text.ToString();
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
