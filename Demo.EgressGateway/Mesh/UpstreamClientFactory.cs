using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Options;
using Yarp.ReverseProxy.Forwarder;

namespace Demo.EgressGateway.Mesh;

/// <summary>How the gateway talks to one external host:port — TLS origination settings included.</summary>
/// <param name="SubjectAltNames">The cluster's <c>match_subject_alt_names</c> (the DestinationRule's, else the
/// ServiceEntry's); empty: no configured name check.</param>
public sealed record UpstreamTransport(
    string Host,
    int Port,
    bool Tls,
    string? Sni,
    IReadOnlyList<string> SubjectAltNames,
    bool InsecureSkipVerify,
    string? CaCertificatesPath,
    int? MaxConnections,
    TimeSpan? ConnectTimeout)
{
    /// <summary>The cluster's circuit breakers, told when a new connection is being set up (not part of <see cref="Key"/>).</summary>
    public ConnectionPoolGate? Pool { get; init; }

    /// <summary>
    /// Istio's mTLS (<c>ISTIO_MUTUAL</c>, istiod's cluster_tls.go <c>buildIstioMutualTLS</c>): the client presents the
    /// workload's mesh certificate, trusts only the mesh CA, checks <see cref="SubjectAltNames"/> against the server's
    /// SPIFFE URI SANs (when any), and offers the in-mesh ALPN (<c>istio-peer-exchange</c>, <c>istio</c>, then <c>h2</c>
    /// for an HTTP/2 cluster).
    /// </summary>
    public bool IstioMutual { get; init; }

    /// <summary>
    /// The sidecar's hop to the egress gateway: the sidecar's own span context goes in <c>traceparent</c> (set by
    /// <see cref="MeshTransformer"/>, as Envoy's tracer injects its span), so the client adds none of its own.
    /// </summary>
    public bool MeshHop { get; init; }

    /// <summary>Offer HTTP/2 in ALPN (Envoy: an HTTP/2 cluster, Istio: a port declared HTTP2 or GRPC).</summary>
    public bool Http2 { get; init; }

    /// <summary>
    /// The cluster's <c>auto_san_validation</c> (see <see cref="Envoy.UpstreamTlsContext.AutoSanValidation"/>): each
    /// connection's certificate must also be for the Host it is opened for (<see cref="VerifySan"/>).
    /// </summary>
    public bool AutoSanValidation { get; init; }

    /// <summary>
    /// The name auto_san_validation checks for this connection (Envoy: the transport socket options'
    /// <c>verifySubjectAltNameListOverride</c>, the request's Host); null: none.
    /// </summary>
    public string? VerifySan { get; init; }

    /// <summary>How long an idle pooled connection is kept (Istio: connectionPool.http.idleTimeout); null: 1 minute.</summary>
    public TimeSpan? IdleTimeout { get; init; }

    /// <summary>The longest a pooled connection lives (connectionPool.tcp.maxConnectionDuration); null: unlimited.</summary>
    public TimeSpan? MaxConnectionDuration { get; init; }

    /// <summary>
    /// TLS whose validation secret (a credentialName's CA) nothing supplies: no connection is attempted, each fails as
    /// Envoy's NotReadySslSocket does.
    /// </summary>
    public bool SecretNotSupplied { get; init; }

    /// <summary>MUTUAL: the PEM client certificate and key files presented to the server; null: none.</summary>
    public (string Certificate, string Key)? ClientCertificate { get; init; }

    // Records compare lists by reference; the key must compare them by content.
    public string Key => string.Join('|', Host, Port, Tls, Sni, string.Join(',', SubjectAltNames), AutoSanValidation, VerifySan,
        InsecureSkipVerify, CaCertificatesPath, MaxConnections, ConnectTimeout, IdleTimeout, MaxConnectionDuration, Http2, SecretNotSupplied,
        IstioMutual, MeshHop, ClientCertificate);
}

/// <summary>
/// One pooled HTTP/1.1 client per upstream transport, kept across configuration reloads so that connections
/// (and TLS sessions) are reused. Connections go to the local endpoint mapped for the host, while Host and
/// SNI stay the external name.
/// </summary>
public sealed class UpstreamClientFactory : IDisposable
{
    private readonly ConcurrentDictionary<string, HttpMessageInvoker> _clients = new();
    private readonly IOptionsMonitor<EgressGatewayOptions> _options;
    private readonly ILogger<UpstreamClientFactory> _logger;
    private readonly Lazy<X509Certificate2Collection?> _trustedCas;
    private readonly IMeterFactory _meterFactory;
    private readonly MeshCertificateAuthority _authority;
    private readonly GatewayListenerManager _gatewayListeners;

    public UpstreamClientFactory(IOptionsMonitor<EgressGatewayOptions> options, ILogger<UpstreamClientFactory> logger, IMeterFactory meterFactory,
        MeshCertificateAuthority authority, GatewayListenerManager gatewayListeners)
    {
        _options = options;
        _authority = authority;
        _gatewayListeners = gatewayListeners;
        _logger = logger;
        _meterFactory = meterFactory;
        _trustedCas = new(() => LoadCertificates(options.CurrentValue.TrustedCaPath));
    }

    public HttpMessageInvoker GetClient(UpstreamTransport transport) =>
        _clients.GetOrAdd(transport.Key, _ => new HttpMessageInvoker(CreateHandler(transport), disposeHandler: true));

    private SocketsHttpHandler CreateHandler(UpstreamTransport transport)
    {
        var handler = new SocketsHttpHandler
        {
            UseProxy = false,
            AllowAutoRedirect = false,
            AutomaticDecompression = DecompressionMethods.None,
            UseCookies = false,
            EnableMultipleHttp2Connections = true,
            PooledConnectionIdleTimeout = transport.IdleTimeout is { } idle && idle < RetryState.MaxTimer ? idle : TimeSpan.FromMinutes(1),
            PooledConnectionLifetime = transport.MaxConnectionDuration is { } lifetime && lifetime < RetryState.MaxTimer ? lifetime : Timeout.InfiniteTimeSpan,
            // SocketsHttpHandler refuses more than ~24.8 days (the loader accepts up to 10 years, as Istio does).
            ConnectTimeout = transport.ConnectTimeout is { } connect && connect < RetryState.MaxTimer ? connect
                : transport.ConnectTimeout is null ? TimeSpan.FromSeconds(10) : RetryState.MaxTimer,
            MaxConnectionsPerServer = transport.MaxConnections ?? int.MaxValue,
            ActivityHeadersPropagator = transport.MeshHop
                ? DistributedContextPropagator.CreateNoOutputPropagator()
                : new ReverseProxyPropagator(DistributedContextPropagator.Current),
            // The host's own meters: ClusterStats counts this gateway's connections, not another host's in the process.
            MeterFactory = _meterFactory,
        };
        var tls = TlsOptions(transport);
        // TLS is originated here rather than by the handler: SocketsHttpHandler would take the SNI from the Host
        // header, while Envoy sends the DestinationRule's sni whatever the Host is.
        if (tls is not null && transport.Http2 && !transport.IstioMutual)
        {
            // HTTP/2 carries :scheme, which must say https on a TLS connection: the handler originates TLS itself
            // here (its SNI is then the Host, which is Envoy's auto_sni; an explicit sni equal to the Host is the same).
            handler.SslOptions = tls;
            handler.ConnectCallback = (context, cancellationToken) => ConnectAsync(context, null, transport.Pool, cancellationToken);
            return handler;
        }
        handler.ConnectCallback = (context, cancellationToken) => ConnectAsync(context, tls, transport.Pool, cancellationToken);
        return handler;
    }

    private static readonly ConcurrentDictionary<(string, string, DateTime, DateTime), X509Certificate2> ClientCertificates = new();

    // The certificate and key files as they are now; read again when either file changes.
    private static X509Certificate2 CurrentClientCertificate(string certificate, string key) =>
        ClientCertificates.GetOrAdd((certificate, key, File.GetLastWriteTimeUtc(certificate), File.GetLastWriteTimeUtc(key)),
            static entry => X509Certificate2.CreateFromPemFile(entry.Item1, entry.Item2));

    /// <summary>
    /// The TLS a connection to <paramref name="transport"/> originates, as the cluster's UpstreamTlsContext says: Istio's
    /// mTLS (<see cref="UpstreamTransport.IstioMutual"/>), SIMPLE or MUTUAL with the rule's SNI, SANs and CA; null: plain
    /// text. <paramref name="tcp"/>: for a TCP proxy, which offers no HTTP ALPN (Envoy sets ALPN only for HTTP clusters).
    /// </summary>
    public SslClientAuthenticationOptions? TlsOptions(UpstreamTransport transport, bool tcp = false)
    {
        SslClientAuthenticationOptions? tls = null;
        if (transport.IstioMutual)
        {
            tls = IstioMutualOptions(transport);
        }
        else if (transport.Tls)
        {
            if (transport.InsecureSkipVerify)
            {
                Log.InsecureSkipVerify(_logger, transport.Host, transport.Port);
            }
            var trusted = transport.CaCertificatesPath is { } path && File.Exists(path) ? LoadCertificates(path) : _trustedCas.Value;
            tls = new SslClientAuthenticationOptions
            {
                TargetHost = transport.Sni ?? transport.Host,
                ApplicationProtocols = transport.Http2 ? [SslApplicationProtocol.Http2, SslApplicationProtocol.Http11] : [SslApplicationProtocol.Http11],
                CertificateChainPolicy = ChainPolicy(trusted),
                RemoteCertificateValidationCallback = (_, certificate, chain, errors) =>
                    Verify(transport, certificate as X509Certificate2, chain, errors),
                // MUTUAL: the rule's (or its credentialName's) client certificate, offered whatever the server asks for,
                // read for each handshake as the files are now: the proxy's agent watches them and serves a rotated
                // certificate to new connections (security/pkg/nodeagent/cache secretcache.go, file watcher).
                LocalCertificateSelectionCallback = transport.ClientCertificate is var (certificate, key)
                    ? (_, _, _, _, _) => CurrentClientCertificate(certificate, key)
                    : null,
            };
        }
        if (tls is not null && tcp && !transport.IstioMutual)
        {
            tls.ApplicationProtocols = null;
        }
        return tls;
    }

    // The in-mesh ALPN istiod writes for ISTIO_MUTUAL clusters (util.ALPNInMeshWithMxc, ALPNInMeshH2WithMxc).
    private static readonly SslApplicationProtocol IstioPeerExchange = new("istio-peer-exchange");
    private static readonly SslApplicationProtocol Istio = new("istio");

    private SslClientAuthenticationOptions IstioMutualOptions(UpstreamTransport transport)
    {
        var options = _options.CurrentValue;
        return new SslClientAuthenticationOptions
        {
            TargetHost = transport.Sni ?? transport.Host,
            ClientCertificateContext = _authority.WorkloadCertificateContext(options.WorkloadNamespace, options.SourceWorkload),
            CertificateChainPolicy = _authority.ChainPolicy(),
            ApplicationProtocols = transport.Http2 ? [IstioPeerExchange, Istio, SslApplicationProtocol.Http2] : [IstioPeerExchange, Istio],
            RemoteCertificateValidationCallback = (_, certificate, chain, errors) =>
            {
                if (!_authority.ValidatePeer(certificate, chain, errors, out var identity, out var reason))
                {
                    Log.TlsVerificationFailed(_logger, transport.Host, transport.Port, reason ?? "not a mesh certificate");
                    return false;
                }
                if (transport.SubjectAltNames.Count > 0 && !transport.SubjectAltNames.Contains(identity, StringComparer.Ordinal))
                {
                    Log.TlsVerificationFailed(_logger, transport.Host, transport.Port,
                        $"the peer's identity {identity} is none of subjectAltNames [{string.Join(", ", transport.SubjectAltNames)}]");
                    return false;
                }
                return true;
            },
        };
    }

    // Envoy's validation context: the DestinationRule's caCertificates (else this gateway's trusted CAs, else the
    // system's) as trust anchors, no revocation check. SslStream builds the chain once with it for the callback.
    private static X509ChainPolicy ChainPolicy(X509Certificate2Collection? trusted)
    {
        var policy = new X509ChainPolicy { RevocationMode = X509RevocationMode.NoCheck, DisableCertificateDownloads = true };
        if (trusted is not null)
        {
            policy.TrustMode = X509ChainTrustMode.CustomRootTrust;
            policy.CustomTrustStore.AddRange(trusted);
        }
        return policy;
    }

    private bool Verify(UpstreamTransport transport, X509Certificate2? certificate, X509Chain? chain, SslPolicyErrors errors)
    {
        if (transport.InsecureSkipVerify)
        {
            return true;
        }
        if (certificate is null || errors.HasFlag(SslPolicyErrors.RemoteCertificateNotAvailable))
        {
            Log.TlsVerificationFailed(_logger, transport.Host, transport.Port, "the server sent no certificate");
            return false;
        }
        // The name is checked below as Envoy checks it (configured SANs, auto_san_validation), never against the SNI.
        if (errors.HasFlag(SslPolicyErrors.RemoteCertificateChainErrors))
        {
            var reasons = chain is null ? "no chain" : string.Join("; ", chain.ChainStatus.Select(s => $"{s.Status}: {s.StatusInformation.Trim()}").Distinct());
            Log.TlsVerificationFailed(_logger, transport.Host, transport.Port,
                $"certificate '{certificate.Subject}' (valid {certificate.NotBefore:u} to {certificate.NotAfter:u}) is not trusted: {reasons}");
            return false;
        }

        // Envoy's DefaultCertValidator::verifyCertificate: the auto_san_validation name (when set) and the configured
        // match_subject_alt_names (when any) must each match; with neither, the trusted chain is all that is checked.
        var sanExtensions = certificate.Extensions.OfType<X509SubjectAlternativeNameExtension>().ToList();
        var dnsSans = sanExtensions.SelectMany(e => e.EnumerateDnsNames()).ToList();
        // Envoy's verifySubjectAltName compares an IP SAN as text (the host of an IP-literal Host under auto_san_validation).
        if (transport.VerifySan is { } host && !dnsSans.Any(san => DnsNameMatches(host, san))
            && !sanExtensions.SelectMany(e => e.EnumerateIPAddresses()).Any(ip => ip.ToString() == host))
        {
            Log.TlsVerificationFailed(_logger, transport.Host, transport.Port,
                $"certificate DNS SANs [{string.Join(", ", dnsSans)}] do not match the Host '{host}' (auto_san_validation: the DestinationRule has neither sni nor subjectAltNames)");
            return false;
        }
        if (transport.SubjectAltNames.Count > 0 && !transport.SubjectAltNames.Any(name => dnsSans.Any(san => DnsNameMatches(name, san))))
        {
            Log.TlsVerificationFailed(_logger, transport.Host, transport.Port,
                $"certificate DNS SANs [{string.Join(", ", dnsSans)}] match none of subjectAltNames [{string.Join(", ", transport.SubjectAltNames)}]");
            return false;
        }
        return true;
    }

    /// <summary>
    /// Whether an expected name (a <c>subjectAltNames</c> entry, or the Host auto_san_validation checks)
    /// matches one DNS SAN of the upstream's certificate, as Envoy decides it (Envoy
    /// <c>source/common/tls/utility.cc</c> <c>Utility::dnsNameMatch</c>, called by the default certificate validator's
    /// SAN matcher for an exact DNS matcher, which is what Istio makes of <c>subjectAltNames</c>):
    /// case-insensitive equality — so an entry spelled exactly like a wildcard SAN matches it — or a wildcard in the
    /// certificate's left-most label only (not an <c>xn--</c> A-label) that stands for exactly one label of the
    /// expected name: <c>*.apps.example.com</c> matches <c>hello-istio-v1.apps.example.com</c>, not
    /// <c>apps.example.com</c> nor <c>a.b.apps.example.com</c>; <c>hello-*.apps.example.com</c> matches
    /// <c>hello-istio-v1.apps.example.com</c>. The subject's common name is never consulted.
    /// </summary>
    public static bool DnsNameMatches(string expected, string certificateSan)
    {
        if (string.Equals(expected, certificateSan, StringComparison.OrdinalIgnoreCase))
        {
            return true;
        }
        var name = expected.ToLowerInvariant().Split('.', 2);
        var pattern = certificateSan.ToLowerInvariant().Split('.', 2);
        if (name.Length < 2 || pattern.Length < 2)
        {
            return false;
        }
        if (!pattern[0].Contains('*', StringComparison.Ordinal) || pattern[1].Contains('*', StringComparison.Ordinal)
            || pattern[0].StartsWith("xn--", StringComparison.Ordinal))
        {
            return false;
        }
        return name[1] == pattern[1] && LabelWildcardMatches(name[0], pattern[0]);
    }

    // Envoy Utility::labelWildcardMatch: "*" alone matches any label; otherwise one '*' with a fixed prefix and suffix.
    private static bool LabelWildcardMatches(string label, string pattern)
    {
        if (pattern == "*")
        {
            return true;
        }
        var star = pattern.IndexOf('*', StringComparison.Ordinal);
        if (pattern.IndexOf('*', star + 1) >= 0)
        {
            return false;
        }
        return pattern.Length <= label.Length + 1
            && label.StartsWith(pattern[..star], StringComparison.Ordinal)
            && label.EndsWith(pattern[(star + 1)..], StringComparison.Ordinal);
    }

    private async ValueTask<Stream> ConnectAsync(SocketsHttpConnectionContext context, SslClientAuthenticationOptions? tls,
        ConnectionPoolGate? pool, CancellationToken cancellationToken)
    {
        pool?.ConnectStarted();
        // Envoy arms a try's per-try timer when its connection is ready: opening one is not part of the try.
        var perTry = context.InitialRequestMessage.Options.TryGetValue(PerTryTimer.OptionKey, out var timer) ? timer : null;
        perTry?.ConnectStarted();
        try
        {
            return await ConnectCoreAsync(context, tls, cancellationToken);
        }
        finally
        {
            perTry?.ConnectEnded();
            pool?.ConnectEnded();
        }
    }

    private async ValueTask<Stream> ConnectCoreAsync(SocketsHttpConnectionContext context, SslClientAuthenticationOptions? tls,
        CancellationToken cancellationToken)
    {
        var endpoint = context.DnsEndPoint;
        var target = await ResolveAsync(endpoint.Host, endpoint.Port, cancellationToken);
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            await socket.ConnectAsync(target, cancellationToken);
            var stream = new NetworkStream(socket, ownsSocket: true);
            if (tls is null)
            {
                return stream;
            }
            var ssl = new SslStream(stream, leaveInnerStreamOpen: false);
            try
            {
                await ssl.AuthenticateAsClientAsync(tls, cancellationToken);
                return ssl;
            }
            catch
            {
                await ssl.DisposeAsync();
                throw;
            }
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Where a connection to endpoint <paramref name="host"/>:<paramref name="port"/> really goes: the egress gateway's
    /// own listener for its Service, the address EgressGateway:Upstreams maps the host to, else the host itself.
    /// </summary>
    /// <exception cref="SocketException">The gateway's Service port has no listener (connection refused).</exception>
    public async ValueTask<EndPoint> ResolveAsync(string host, int port, CancellationToken cancellationToken) =>
        await _gatewayListeners.TryResolve(host, port, cancellationToken) is { } gateway
            ? gateway.Port == 0
                ? throw new SocketException((int)SocketError.ConnectionRefused)
                : gateway
            : _options.CurrentValue.Upstreams.TryGetValue(host, out var mapped)
                ? ParseEndpoint(mapped)
                : new DnsEndPoint(host, port);

    /// <summary><c>https://localhost:7443</c>, <c>127.0.0.1:7443</c> or <c>[::1]:7443</c>.</summary>
    public static EndPoint ParseEndpoint(string value)
    {
        if (Uri.TryCreate(value, UriKind.Absolute, out var uri) && uri.Host.Length > 0 && !uri.IsDefaultPort)
        {
            return IPAddress.TryParse(uri.Host.Trim('[', ']'), out var address)
                ? new IPEndPoint(address, uri.Port)
                : new DnsEndPoint(uri.Host, uri.Port);
        }
        if (IPEndPoint.TryParse(value, out var ip) && ip.Port != 0)
        {
            return ip;
        }
        var colon = value.LastIndexOf(':');
        if (colon > 0 && int.TryParse(value[(colon + 1)..], out var port))
        {
            return new DnsEndPoint(value[..colon], port);
        }
        throw new FormatException($"'{value}' is not an endpoint such as https://localhost:7443 or 127.0.0.1:7443");
    }

    private static X509Certificate2Collection? LoadCertificates(string? path)
    {
        if (string.IsNullOrEmpty(path))
        {
            return null;
        }
        var collection = new X509Certificate2Collection();
        collection.ImportFromPemFile(path);
        return collection;
    }

    public void Dispose()
    {
        foreach (var client in _clients.Values)
        {
            client.Dispose();
        }
    }
}
