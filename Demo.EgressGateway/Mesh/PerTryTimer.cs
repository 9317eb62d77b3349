using System.Diagnostics;
using System.Diagnostics.Metrics;
using Polly.Timeout;

namespace Demo.EgressGateway.Mesh;

/// <summary>
/// The per-try timeout of one upstream request, armed as Envoy's router arms it: when the connection pool hands the
/// request a ready connection (Envoy <c>source/common/router/upstream_request.cc</c>, <c>UpstreamRequest::onPoolReady</c>
/// calls <c>setupPerTryTimeout</c> once the downstream request is complete). Time spent waiting for a connection —
/// TCP connect, TLS handshake, a full pool — is not part of the try: it is bounded by the cluster's connect timeout and
/// the route timeout, never by <c>perTryTimeout</c>.
/// </summary>
/// <remarks>
/// The try starts with the timer armed; when <see cref="System.Net.Http.SocketsHttpHandler"/> makes the request wait for
/// a connection it starts its <c>Experimental.System.Net.Http.Connections.WaitForConnection</c> activity on the request's
/// flow, and the <see cref="ActivityListener"/> here disarms the timer of that flow's try (<see cref="Current"/>); when the
/// wait ends (a connection is ready) the timer is armed again for the whole per-try timeout. A proxy's try and its
/// next hop's try run on different flows (the hop is a real connection), so each proxy's timer sees only its own pool.
/// </remarks>
public sealed class PerTryTimer : IDisposable
{
    private const string ConnectionsSource = "Experimental.System.Net.Http.Connections";
    private const string WaitForConnection = ConnectionsSource + ".WaitForConnection";
    private static readonly AsyncLocal<PerTryTimer?> s_current = new();
    private static readonly ActivityListener s_poolListener = StartPoolListener();
    private static readonly MeterListener s_queueMeter = EnableQueueMeter();

    private readonly CancellationTokenSource _source;
    private readonly TimeSpan _timeout;

    /// <summary>Links the try to <paramref name="routeToken"/> (the route timeout and the downstream) and arms the timer.</summary>
    /// <param name="timeout">The per-try timeout; at most <see cref="RetryPolicy.MaxTimer"/> is armed.</param>
    public PerTryTimer(TimeSpan timeout, CancellationToken routeToken)
    {
        GC.KeepAlive(s_poolListener);
        GC.KeepAlive(s_queueMeter);
        _timeout = RetryPolicy.Timer(timeout);
        _source = CancellationTokenSource.CreateLinkedTokenSource(routeToken);
        _source.CancelAfter(_timeout);
    }

    /// <summary>The try running on this async flow, if it has a per-try timeout.</summary>
    public static PerTryTimer? Current
    {
        get => s_current.Value;
        set => s_current.Value = value;
    }

    /// <summary>Cancelled when the per-try timeout elapses, the route timeout elapses or the downstream goes away.</summary>
    public CancellationToken Token => _source.Token;

    /// <summary>Whether this try ended by its own timer (not by the route token it is linked to).</summary>
    public bool Expired(CancellationToken routeToken) => _source.IsCancellationRequested && !routeToken.IsCancellationRequested;

    /// <summary>The exception Polly's timeout strategy throws, so the retry policy and the router read it alike.</summary>
    public TimeoutRejectedException Timeout(Exception inner) =>
        new($"The per-try timeout of {_timeout.TotalMilliseconds} ms elapsed.", _timeout, inner);

    private void PoolWaitStarted() => Rearm(System.Threading.Timeout.InfiniteTimeSpan);

    private void PoolReady() => Rearm(_timeout);

    private void Rearm(TimeSpan delay)
    {
        try
        {
            if (!_source.IsCancellationRequested)
            {
                _source.CancelAfter(delay);
            }
        }
        catch (ObjectDisposedException)
        {
            // The try ended while the handler still held its wait.
        }
    }

    public void Dispose() => _source.Dispose();

    // SocketsHttpHandler takes its telemetry path for a waiting request — the one that starts the wait activity — only
    // when someone measures the time requests spend in its queue (or its HttpRequestOut activity exists, which would
    // change the trace context the upstream receives): enabling that histogram, with no callback, is the cheap way in.
    private static MeterListener EnableQueueMeter()
    {
        var listener = new MeterListener
        {
            InstrumentPublished = (instrument, meter) =>
            {
                if (instrument.Meter.Name == "System.Net.Http" && instrument.Name == "http.client.request.time_in_queue")
                {
                    meter.EnableMeasurementEvents(instrument);
                }
            },
        };
        listener.Start();
        return listener;
    }

    private static ActivityListener StartPoolListener()
    {
        var listener = new ActivityListener
        {
            ShouldListenTo = source => source.Name == ConnectionsSource,
            // Only a try with a per-try timeout asks for the wait activity; other requests pay nothing for it.
            Sample = (ref ActivityCreationOptions<ActivityContext> options) =>
                options.Name == WaitForConnection && s_current.Value is not null ? ActivitySamplingResult.PropagationData : ActivitySamplingResult.None,
            ActivityStarted = activity =>
            {
                if (activity.OperationName == WaitForConnection)
                {
                    s_current.Value?.PoolWaitStarted();
                }
            },
            ActivityStopped = activity =>
            {
                if (activity.OperationName == WaitForConnection)
                {
                    s_current.Value?.PoolReady();
                }
            },
        };
        ActivitySource.AddActivityListener(listener);
        return listener;
    }
}
