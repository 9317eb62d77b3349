using System.Globalization;
using Yarp.ReverseProxy.Forwarder;

namespace Demo.CfRouter;

/// <summary>
/// What gorouter adds to a request on its way to an app instance (cloudfoundry/gorouter <c>proxy/proxy.go</c>,
/// <c>handlers/request_id.go</c>, <c>handlers/x_forwarded_proto.go</c>): the original Host; <c>X-Vcap-Request-Id</c>;
/// <c>X-Forwarded-For</c> with the client's address appended; <c>X-Forwarded-Proto: https</c> unless the client sent
/// one; <c>X-Request-Start</c> (milliseconds since the Unix epoch) unless present; no <c>X-CF-APP-INSTANCE</c>
/// (<c>proxy/proxy.go</c> <c>setupProxyRequest</c>). W3C trace context is replaced by the router's own span by the
/// client handler's propagator.
/// <para>
/// Per attempt, the instance's own identity, replacing whatever the client sent under these names
/// (<c>proxy/round_tripper/proxy_round_tripper.go</c> <c>backendRoundTrip</c>, <c>setRequestXCfInstanceId</c>):
/// <c>X-CF-ApplicationID</c> = the registration's <c>app</c>, <c>X-CF-InstanceIndex</c> = its
/// <c>private_instance_index</c> (each possibly empty), <c>X-CF-InstanceID</c> = its <c>private_instance_id</c>, or
/// its <c>host:port</c> when that is empty. Go's <c>Header.Set</c> writes the names in canonical form
/// (<c>X-Cf-Applicationid</c>, …), and so does this.
/// </para>
/// </summary>
public sealed class GorouterTransformer(string vcapRequestId, DateTimeOffset receivedAt) : HttpTransformer
{
    public const string VcapRequestIdHeader = "X-Vcap-Request-Id";
    public const string RequestStartHeader = "X-Request-Start";
    public const string CfAppInstanceHeader = AppInstanceHeader.Name;
    public const string CfApplicationIdHeader = "X-Cf-Applicationid";
    public const string CfInstanceIndexHeader = "X-Cf-Instanceindex";
    public const string CfInstanceIdHeader = "X-Cf-Instanceid";

    /// <summary>The instance of the coming attempt; set by the handler before each one.</summary>
    public RouteEndpoint? Endpoint { get; set; }

    public override async ValueTask TransformRequestAsync(HttpContext httpContext, HttpRequestMessage proxyRequest,
        string destinationPrefix, CancellationToken cancellationToken)
    {
        await base.TransformRequestAsync(httpContext, proxyRequest, destinationPrefix, cancellationToken);
        var request = httpContext.Request;
        var headers = proxyRequest.Headers;
        headers.Host = request.Host.Value;

        headers.Remove(VcapRequestIdHeader);
        headers.TryAddWithoutValidation(VcapRequestIdHeader, vcapRequestId);

        var client = httpContext.Connection.RemoteIpAddress?.ToString();
        if (client is not null)
        {
            var forwardedFor = request.Headers["X-Forwarded-For"].ToString();
            headers.Remove("X-Forwarded-For");
            headers.TryAddWithoutValidation("X-Forwarded-For", forwardedFor.Length == 0 ? client : forwardedFor + ", " + client);
        }

        if (!headers.Contains("X-Forwarded-Proto"))
        {
            headers.TryAddWithoutValidation("X-Forwarded-Proto", request.IsHttps ? "https" : "http");
        }
        if (!headers.Contains(RequestStartHeader))
        {
            headers.TryAddWithoutValidation(RequestStartHeader, receivedAt.ToUnixTimeMilliseconds().ToString(CultureInfo.InvariantCulture));
        }
        headers.Remove(CfAppInstanceHeader);

        if (Endpoint is { } endpoint)
        {
            Set(headers, CfApplicationIdHeader, endpoint.App);
            Set(headers, CfInstanceIndexHeader, endpoint.InstanceIndex);
            Set(headers, CfInstanceIdHeader, endpoint.InstanceId.Length > 0 ? endpoint.InstanceId : endpoint.Address);
        }
    }

    private static void Set(System.Net.Http.Headers.HttpRequestHeaders headers, string name, string value)
    {
        headers.Remove(name);
        headers.TryAddWithoutValidation(name, value);
    }
}
