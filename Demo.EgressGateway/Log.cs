namespace Demo.EgressGateway;

internal static partial class Log
{
    [LoggerMessage(EventId = 1, Level = LogLevel.Information,
        Message = "Applied Istio configuration revision {Revision} from {Directory} (scenario: {Scenario}, {Count} resources)")]
    public static partial void ConfigurationApplied(ILogger logger, int revision, string directory, string scenario, int count);

    [LoggerMessage(EventId = 2, Level = LogLevel.Error,
        Message = "Rejected an Istio configuration change; revision {Revision} keeps serving:\n{Errors}")]
    public static partial void ConfigurationRejected(ILogger logger, int revision, string errors);

    [LoggerMessage(EventId = 3, Level = LogLevel.Warning, Message = "{Diagnostic}")]
    public static partial void ConfigurationWarning(ILogger logger, string diagnostic);

    [LoggerMessage(EventId = 4, Level = LogLevel.Warning,
        Message = "INSECURE: DestinationRule '{Name}' ({File}) sets insecureSkipVerify: true; certificates of {Host} are NOT verified")]
    public static partial void InsecureDestinationRule(ILogger logger, string name, string file, string host);

    [LoggerMessage(EventId = 5, Level = LogLevel.Warning,
        Message = "INSECURE: TLS to {Host}:{Port} skips certificate verification (insecureSkipVerify)")]
    public static partial void InsecureSkipVerify(ILogger logger, string host, int port);

    [LoggerMessage(EventId = 6, Level = LogLevel.Warning, Message = "TLS origination to {Host}:{Port} refused: {Reason}")]
    public static partial void TlsVerificationFailed(ILogger logger, string host, int port, string reason);

    [LoggerMessage(EventId = 7, Level = LogLevel.Warning, Message = "Upstream connect failure to {Cluster}: {Reason}")]
    public static partial void UpstreamConnectFailed(ILogger logger, string cluster, string reason);

    [LoggerMessage(EventId = 8, Level = LogLevel.Warning, Message = "Upstream {Cluster} reset ({Error}): {Reason}")]
    public static partial void UpstreamReset(ILogger logger, string cluster, string error, string reason);

    [LoggerMessage(EventId = 9, Level = LogLevel.Warning,
        Message = "Outlier detection ejected {Host} from {Cluster} (ejection {Ejections}, back within {Remaining}): while every endpoint is ejected, requests fail fast with 503 UH")]
    public static partial void EndpointEjected(ILogger logger, string host, string cluster, int ejections, TimeSpan? remaining);

    [LoggerMessage(EventId = 10, Level = LogLevel.Information,
        Message = "[{Stage}] \"{Method} {Path} {Protocol}\" {Status} {Flags} attempts={Attempts} route={Route} cluster={Cluster} authority={Authority} details={Details} {DurationMs:0.0}ms")]
    public static partial void AccessLog(ILogger logger, string stage, string method, string path, string protocol, int status,
        string flags, int attempts, string route, string cluster, string authority, string details, double durationMs);

    [LoggerMessage(EventId = 11, Level = LogLevel.Information,
        Message = "[{Stage}] \"- - -\" 0 NR attempts=0 route=- cluster=- authority=- details=filter_chain_not_found sni={Sni} port={Port}: no server of an egress Gateway accepts this SNI; the connection is closed")]
    public static partial void FilterChainNotFound(ILogger logger, string stage, string sni, int port);

    [LoggerMessage(EventId = 12, Level = LogLevel.Information,
        Message = "[gateway] \"- - -\" 0 - attempts=0 route=- cluster=- authority=- details=tls_inspector: {Reason}")]
    public static partial void ClientHelloRejected(ILogger logger, string reason);

    [LoggerMessage(EventId = 13, Level = LogLevel.Information,
        Message = "[gateway] \"- - -\" 0 - attempts=0 route=- cluster=- authority=- details=downstream TLS handshake failed sni={Sni} port={Port}: {Reason}")]
    public static partial void DownstreamHandshakeFailed(ILogger logger, string sni, int port, string reason);

    [LoggerMessage(EventId = 15, Level = LogLevel.Information,
        Message = "[{Stage}] \"- - -\" 0 {Flags} attempts=1 route=- cluster={Cluster} authority=- details={Details} sni={Sni} upstream={Upstream} bytes_received={BytesReceived} bytes_sent={BytesSent} {DurationMs:0.0}ms")]
    public static partial void TcpAccessLog(ILogger logger, string stage, string flags, string cluster, string details, string sni,
        string upstream, long bytesReceived, long bytesSent, double durationMs);

    [LoggerMessage(EventId = 14, Level = LogLevel.Debug, Message = "Mirror request to {Cluster} failed: {Reason}")]
    public static partial void ShadowFailed(ILogger logger, string cluster, string reason);
}
