using System.Globalization;
using Yarp.ReverseProxy.Forwarder;

namespace Demo.CfRouter;

/// <summary>
/// What gorouter adds to a request on its way to an app instance (cloudfoundry/gorouter <c>proxy/proxy.go</c>,
/// <c>handlers/request_id.go</c>, <c>handlers/x_forwarded_proto.go</c>): the original Host; <c>X-Vcap-Request-Id</c>;
/// <c>X-Forwarded-For</c> with the client's address appended; <c>X-Forwarded-Proto: https</c> unless the client sent
/// one; <c>X-Request-Start</c> (milliseconds since the Unix epoch) unless present; no <c>X-CF-APP-INSTANCE</c>.
/// W3C trace context is replaced by the router's own span by the client handler's propagator.
/// </summary>
public sealed class GorouterTransformer(string vcapRequestId, DateTimeOffset receivedAt) : HttpTransformer
{
    public const string VcapRequestIdHeader = "X-Vcap-Request-Id";
    public const string RequestStartHeader = "X-Request-Start";
    public const string CfAppInstanceHeader = "X-CF-APP-INSTANCE";

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
    }
}
