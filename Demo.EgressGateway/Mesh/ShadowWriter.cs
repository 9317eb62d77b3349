using Demo.EgressGateway.Envoy;

namespace Demo.EgressGateway.Mesh;

/// <summary>
/// Envoy's request mirroring (router.cc <c>maybeDoShadowing</c>, the cluster manager's shadow writer): for each of the
/// route's mirror policies whose share the request falls in, a copy of the request as the router forwards it — its
/// method, path, headers and body — goes to the mirror cluster with <c>-shadow</c> added to its Host (before any port),
/// and its answer is dropped: the mirror never delays, changes or fails the request, and no access-log line is written
/// for it. A body is buffered in memory to be sent twice (Envoy streams it to both).
/// </summary>
public static class ShadowWriter
{
    private static readonly HashSet<string> HopByHop = new(StringComparer.OrdinalIgnoreCase)
    {
        "Connection", "Keep-Alive", "Proxy-Connection", "TE", "Trailer", "Transfer-Encoding", "Upgrade", "Host", "Content-Length",
    };

    /// <summary>
    /// Starts the copies of <paramref name="context"/>'s request for <paramref name="mirrors"/> (cluster, share;
    /// a null cluster — one the proxy does not have — copies nothing) and returns without waiting for them.
    /// </summary>
    public static async Task MirrorAsync(HttpContext context, string authority, IReadOnlyList<(ClusterRuntime? Cluster, FractionalPercent Share)> mirrors,
        UpstreamClientFactory clients, ILogger logger)
    {
        var chosen = mirrors.Where(m => m.Cluster is not null && Roll(m.Share)).Select(m => m.Cluster!).ToList();
        if (chosen.Count == 0)
        {
            return;
        }
        var request = context.Request;
        byte[]? body = null;
        if (request.ContentLength > 0 || request.Headers.TransferEncoding.Count > 0)
        {
            request.EnableBuffering();
            using var copy = new MemoryStream();
            await request.Body.CopyToAsync(copy, context.RequestAborted);
            request.Body.Position = 0;
            body = copy.ToArray();
        }
        var host = ShadowHost(authority);
        var target = request.Path.Value + request.QueryString.Value;
        foreach (var cluster in chosen)
        {
            if (cluster.PickHost(null, false) is not { } upstream)
            {
                continue;
            }
            var message = new HttpRequestMessage(new HttpMethod(request.Method), new Uri(upstream.DestinationPrefix + target))
            {
                Content = body is null ? null : new ByteArrayContent(body),
            };
            foreach (var (name, values) in request.Headers.Where(h => !HopByHop.Contains(h.Key)))
            {
                if (!message.Headers.TryAddWithoutValidation(name, (IEnumerable<string?>)values))
                {
                    message.Content?.Headers.TryAddWithoutValidation(name, (IEnumerable<string?>)values);
                }
            }
            message.Headers.Host = host;
            _ = SendAsync(upstream.Client(clients), message, cluster.Name, logger);
        }
    }

    // Envoy's shadowAppendedHost: "-shadow" after the host, before the port.
    private static string ShadowHost(string authority)
    {
        var parsed = HttpUtility.ParseAuthority(authority);
        var end = parsed.Port is null ? authority.Length : authority.LastIndexOf(':');
        return authority[..end] + "-shadow" + authority[end..];
    }

    private static bool Roll(FractionalPercent share) =>
        Random.Shared.Next(share.Denominator == "MILLION" ? 1_000_000 : 100) < share.Numerator;

    private static async Task SendAsync(HttpMessageInvoker client, HttpRequestMessage message, string cluster, ILogger logger)
    {
        try
        {
            using (message)
            using (var response = await client.SendAsync(message, CancellationToken.None))
            {
                await response.Content.CopyToAsync(Stream.Null);
            }
        }
        catch (Exception ex) when (ex is HttpRequestException or OperationCanceledException or IOException)
        {
            Log.ShadowFailed(logger, cluster, ex.Message);
        }
    }
}
