using Demo.EgressGateway.Istio;

namespace Demo.EgressGateway.Envoy;

// istiod listener.go buildSidecarOutboundListeners and tcp.go buildSidecarOutboundTCPTLSFilterChainOpts: what the
// sidecar's outbound listener of a TLS port does with intercepted TLS — a filter chain per service host, matched by SNI,
// whose TCP proxy sends the bytes on as they are.
public static partial class IstioTranslator
{
    private sealed partial class ProxyTranslation
    {
        // A TLS or HTTPS service port gets, on the listener for that port, one chain per service host with
        // server_names [host] (a wildcard host stays a wildcard name) and transport_protocol tls, whose tcp_proxy goes to
        // outbound|port||host. An HTTP listener on the same port keeps its chain for plain text (raw_buffer).
        private void AddSidecarTlsChains(List<Listener> listeners)
        {
            var byPort = _services.Values
                .SelectMany(service => service.Ports.Where(IsTls).Select(port => (Service: service, Port: port)))
                .GroupBy(x => x.Port.Number)
                .OrderBy(g => g.Key);
            foreach (var group in byPort)
            {
                var port = group.Key;
                var chains = group
                    .Select(x => x.Service.Host)
                    .Distinct(StringComparer.OrdinalIgnoreCase)
                    .Select(host => TcpProxyChain(host, port, ClusterName(port, null, host)))
                    .ToList();
                var name = $"0.0.0.0_{port}";
                var index = listeners.FindIndex(l => l.Name == name);
                if (index < 0)
                {
                    listeners.Add(new Listener(name, new Address(new SocketAddress("0.0.0.0", port)), chains));
                    continue;
                }
                var http = listeners[index].FilterChains.Select(c => c with { FilterChainMatch = new FilterChainMatch([], "raw_buffer") });
                listeners[index] = listeners[index] with { FilterChains = [.. http, .. chains] };
            }
            listeners.Sort((a, b) => a.Port.CompareTo(b.Port));
        }

        private static FilterChain TcpProxyChain(string serverName, int port, string cluster) =>
            new($"{serverName}:{port}", new FilterChainMatch([serverName], "tls"),
                [new NetworkFilter(NetworkFilter.TcpProxyName, new TcpProxy(cluster, cluster))], null);

        // Istio's protocol sniffing aside, a port declared TLS or HTTPS carries TLS the app itself speaks.
        private static bool IsTls(ServicePort port) => port.Protocol is "TLS" or "HTTPS";
    }
}
