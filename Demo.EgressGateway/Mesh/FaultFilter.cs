using Demo.EgressGateway.Envoy;

namespace Demo.EgressGateway.Mesh;

/// <summary>
/// Envoy's HTTP fault filter (<c>source/extensions/filters/http/fault/fault_filter.cc</c>) for the route a request
/// matched, as istiod configures it from a VirtualService's <c>fault</c>: it runs before the router, so neither its
/// delay nor its abort is subject to the route's timeout, and its abort is a local reply the router never retries.
/// </summary>
public static class FaultFilter
{
    /// <summary>The body of an injected abort (<c>FaultFilter::abortWithStatus</c>).</summary>
    public const string AbortBody = "fault filter abort";

    /// <summary>The response details of an injected abort, as Envoy's access log writes them.</summary>
    public const string AbortDetails = "fault_filter_abort";

    /// <summary>
    /// Decodes the request headers through the fault: first the delay, rolled on its own percentage (flag <c>DI</c>
    /// on <paramref name="stream"/>), then the abort, rolled independently.
    /// </summary>
    /// <returns>The HTTP status to abort with, or null when the request goes on to the router.</returns>
    /// <exception cref="OperationCanceledException">The downstream went away during the delay.</exception>
    public static async ValueTask<int?> DecodeHeadersAsync(HttpFault fault, StreamInfo stream, CancellationToken cancellationToken)
    {
        if (fault.Delay is { } delay && Roll(delay.Percentage))
        {
            stream.Flags |= ResponseFlags.DelayInjected;
            await Task.Delay(delay.FixedDelay < RetryState.MaxTimer ? delay.FixedDelay : RetryState.MaxTimer, cancellationToken);
        }
        return fault.Abort is { } abort && Roll(abort.Percentage) ? abort.HttpStatus : null;
    }

    // A random draw in [0, denominator) below the numerator (Envoy's fractional percent, per hundred or per million).
    private static bool Roll(FractionalPercent percentage) => percentage.Denominator == "MILLION"
        ? Random.Shared.Next(1_000_000) < percentage.Numerator
        : Random.Shared.Next(100) < percentage.Numerator;
}
