using System.Globalization;
using System.Text;

namespace Demo.EgressGateway.Tests;

/// <summary>Writes the two VirtualServices of deploy/istio with the settings a test needs.</summary>
public static class MeshYaml
{
    public const string SidecarFile = "virtual-service-hello.yaml";
    public const string EgressFile = "virtual-service-hello-egress.yaml";

    /// <summary>The sidecar-side VirtualService 'hello': weights, and the route's timeout/retries/fault blocks.</summary>
    public static string Sidecar(int v1 = 50, int v2 = 50, string? timeout = null, string? retries = null, string? fault = null)
    {
        var text = new StringBuilder("""
            apiVersion: networking.istio.io/v1
            kind: VirtualService
            metadata:
              name: hello
            spec:
              hosts:
                - hello.external
              gateways:
                - mesh
              http:
                - name: hello-split
                  route:

            """);
        foreach (var (subset, weight) in new[] { ("v1", v1), ("v2", v2) })
        {
            text.Append(CultureInfo.InvariantCulture, $"""
                        - destination:
                            host: istio-egressgateway.istio-system.svc.cluster.local
                            subset: {subset}
                            port:
                              number: 443
                          weight: {weight}
                          headers:
                            request:
                              set:
                                host: hello-istio-{subset}.apps.example.com

                """);
        }
        AppendPolicy(text, timeout, retries, fault);
        return text.ToString();
    }

    /// <summary>The gateway-side VirtualService 'hello-egress' with the same blocks on both hosts' routes.</summary>
    public static string Egress(string? fault = null, string? retries = null, string? timeout = null)
    {
        var text = new StringBuilder("""
            apiVersion: networking.istio.io/v1
            kind: VirtualService
            metadata:
              name: hello-egress
            spec:
              hosts:
                - hello-istio-v1.apps.example.com
                - hello-istio-v2.apps.example.com
              gateways:
                - hello-cf-egress
              http:

            """);
        foreach (var version in new[] { "v1", "v2" })
        {
            text.Append(CultureInfo.InvariantCulture, $"""
                    - name: hello-{version}
                      match:
                        - gateways: [hello-cf-egress]
                          port: 443
                          authority:
                            exact: hello-istio-{version}.apps.example.com
                      route:
                        - destination:
                            host: hello-istio-{version}.apps.example.com
                            port:
                              number: 443

                """);
            AppendPolicy(text, timeout, retries, fault);
        }
        return text.ToString();
    }

    public static string Abort(int status, double percent) =>
        $"abort:\n  httpStatus: {status}\n  percentage:\n    value: {percent.ToString(CultureInfo.InvariantCulture)}\n";

    public static string Delay(string fixedDelay, double percent) =>
        $"delay:\n  fixedDelay: {fixedDelay}\n  percentage:\n    value: {percent.ToString(CultureInfo.InvariantCulture)}\n";

    // Istio refuses retryOn or perTryTimeout next to attempts: 0 (ValidateHTTPRetry), so 0 is written alone.
    public static string Retries(int attempts, string retryOn, string? perTryTimeout = null) => attempts == 0
        ? "attempts: 0\n"
        : $"attempts: {attempts}\nretryOn: '{retryOn}'\n" + (perTryTimeout is null ? "" : $"perTryTimeout: {perTryTimeout}\n");

    private static void AppendPolicy(StringBuilder text, string? timeout, string? retries, string? fault)
    {
        if (timeout is not null)
        {
            text.Append(CultureInfo.InvariantCulture, $"      timeout: {timeout}\n");
        }
        if (retries is not null)
        {
            text.Append("      retries:\n").Append(Indent(retries, 8));
        }
        if (fault is not null)
        {
            text.Append("      fault:\n").Append(Indent(fault, 8));
        }
    }

    private static string Indent(string block, int spaces) =>
        string.Concat(block.TrimEnd('\n').Split('\n').Select(l => new string(' ', spaces) + l + "\n"));
}
