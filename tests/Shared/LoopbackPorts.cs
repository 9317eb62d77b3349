using System.Net;
using System.Net.Sockets;

namespace Demo.Tests;

/// <summary>Loopback ports nothing listens on, for hosts the tests start on ports of their own.</summary>
internal static class LoopbackPorts
{
    /// <summary>
    /// <paramref name="count"/> distinct free ports on 127.0.0.1. Each is taken and held until all are picked, then
    /// released: two picks made one after the other can be the same port (the kernel may hand a released port out
    /// again), and a host given the same port twice refuses to start.
    /// </summary>
    public static int[] Free(int count)
    {
        var listeners = new List<TcpListener>(count);
        try
        {
            for (var i = 0; i < count; i++)
            {
                var listener = new TcpListener(IPAddress.Loopback, 0);
                listeners.Add(listener);
                listener.Start();
            }
            return [.. listeners.Select(l => ((IPEndPoint)l.LocalEndpoint).Port)];
        }
        finally
        {
            listeners.ForEach(l => l.Dispose());
        }
    }
}
