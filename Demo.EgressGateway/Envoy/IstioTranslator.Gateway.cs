using Demo.EgressGateway.Istio;
using IstioGateway = Demo.EgressGateway.Istio.Gateway;
using IstioVirtualService = Demo.EgressGateway.Istio.VirtualService;

namespace Demo.EgressGateway.Envoy;

// istiod gateway.go buildGatewayListeners / buildGatewayHTTPRouteConfig: the egress gateway's listeners and routes.
public static partial class IstioTranslator
{
    private sealed partial class ProxyTranslation
    {
        // ---- gateway: gateway.go buildGatewayListeners / buildGatewayHTTPRouteConfig ----

        private void BuildGatewayListeners(List<Listener> listeners, List<RouteConfiguration> routeConfigs)
        {
            var gateways = config.OfKind<IstioGateway>()
                .Where(g => environment.GatewayLabels.All(l => g.Selector.TryGetValue(l.Key, out var v) && v == l.Value))
                .ToList();
            foreach (var byPort in gateways
                .SelectMany(g => g.Servers.Select((s, i) => (Gateway: g, Server: s, Index: i)))
                .GroupBy(x => x.Server.Port.Number)
                .OrderBy(g => g.Key))
            {
                var port = byPort.Key;
                var chains = new List<FilterChain>();
                foreach (var (gateway, server, index) in byPort)
                {
                    var gatewayNamespace = NamespaceOf(gateway);
                    if (server.TlsMode == "PASSTHROUGH")
                    {
                        chains.AddRange(BuildPassthroughChains(gateway, server, index, port));
                        continue;
                    }
                    var terminatesTls = server.TlsMode is "SIMPLE" or "MUTUAL" or "ISTIO_MUTUAL" or "OPTIONAL_MUTUAL";
                    // gateway.go buildGatewayTCPBasedFilterChains: an HTTP connection manager only for an HTTP(S) server
                    // (IsHTTPSServerWithTLSTermination); a TCP server, or a TLS server that terminates TLS, gets a TCP
                    // proxy to its tcp route (createGatewayTCPFilterChainOpts) — after the handshake for the latter.
                    if (server.Port.Protocol is "TCP" or "MONGO" || (terminatesTls && server.Port.Protocol == "TLS"))
                    {
                        if (TcpRouteOfGateway(gateway, server, port) is { } tcp)
                        {
                            var names = terminatesTls
                                ? server.Hosts.Select(HostName.StripNamespace).Where(h => h != "*").Distinct(StringComparer.OrdinalIgnoreCase).ToList()
                                : [];
                            chains.Add(new FilterChain($"{gateway.Id.Name}.{gatewayNamespace}.servers[{index}]",
                                terminatesTls ? new FilterChainMatch(names, "tls") : null,
                                [new NetworkFilter(NetworkFilter.TcpProxyName, tcp)],
                                terminatesTls ? new(TransportSocket<DownstreamTlsContext>.Tls, BuildListenerTlsContext(server)) : null));
                        }
                        continue;
                    }
                    var routeName = terminatesTls
                        ? $"https.{port}.{server.Port.Name ?? "https"}.{gateway.Id.Name}.{gatewayNamespace}"
                        : $"http.{port}";
                    if (routeConfigs.All(r => r.Name != routeName))
                    {
                        routeConfigs.Add(BuildGatewayRouteConfig(routeName, port,
                            terminatesTls ? [(gateway, server)] : byPort.Where(x => x.Server.TlsMode is null).Select(x => (x.Gateway, x.Server)).ToList()));
                    }
                    var serverNames = terminatesTls
                        ? server.Hosts.Select(HostName.StripNamespace).Where(h => h != "*").Distinct(StringComparer.OrdinalIgnoreCase).ToList()
                        : [];
                    chains.Add(new FilterChain($"{gateway.Id.Name}.{gatewayNamespace}.servers[{index}]",
                        terminatesTls ? new FilterChainMatch(serverNames, "tls") : null,
                        // tracing.go configureFromProviderConfig: startChildSpan for a router (the demo traces through
                        // the Telemetry API, deploy/cluster/telemetry-tracing.yaml).
                        [GatewayConnectionManager(routeName, port)],
                        terminatesTls ? new(TransportSocket<DownstreamTlsContext>.Tls, BuildListenerTlsContext(server)) : null));
                }
                listeners.Add(new Listener($"0.0.0.0_{port}", new Address(new SocketAddress("0.0.0.0", port)), chains));
            }
        }

        // gateway.go buildGatewayConnectionManager: a gateway's HTTP connection manager sets x-forwarded-client-cert from an
        // mTLS client's certificate (SANITIZE_SET, with subject, cert, dns and uri; gatewayTopology can change it, which the
        // local gateway does not model).
        private NetworkFilter GatewayConnectionManager(string routeName, int port)
        {
            var filter = HttpConnectionManagerFor(routeName, $"outbound_0.0.0.0_{port}", Version.GatewaySpawnsUpstreamSpan);
            return filter with
            {
                TypedConfig = ((HttpConnectionManager)filter.TypedConfig) with
                {
                    ForwardClientCertDetails = "SANITIZE_SET",
                    SetCurrentClientCertDetails = new ClientCertDetails(Subject: true, Cert: true, Chain: false, Dns: true, Uri: true),
                },
            };
        }

        // gateway.go buildGatewayNetworkFiltersFromTLSRoutes: a PASSTHROUGH server's chains come from the tls routes of the
        // VirtualServices bound to its Gateway: each match for this gateway and port gives a chain for its sniHosts that
        // the server's hosts admit, whose TCP proxy goes to the route's destination. No route: no chain (NR).
        private IEnumerable<FilterChain> BuildPassthroughChains(IstioGateway gateway, GatewayServer server, int index, int port)
        {
            var gatewayNamespace = NamespaceOf(gateway);
            var gatewayName = $"{gatewayNamespace}/{gateway.Id.Name}";
            foreach (var vs in VirtualServicesBoundTo(gatewayName))
            {
                var vsNamespace = NamespaceOf(vs);
                foreach (var route in vs.Tls)
                {
                    foreach (var match in route.Match.Where(m => (m.Port is null || m.Port == port)
                        && (m.Gateways.Count == 0 || m.Gateways.Any(g => ResolveGatewayName(g, vsNamespace) == gatewayName))))
                    {
                        var serverNames = match.SniHosts.Where(sni => ServerAdmits(server, gatewayNamespace, vsNamespace, sni)).ToList();
                        if (serverNames.Count > 0)
                        {
                            yield return TcpProxyChain($"{gateway.Id.Name}.{gatewayNamespace}.servers[{index}].{vs.Id.Name}.tls[{route.Index}]",
                                serverNames, TcpProxyFor(route.Route, port, vs));
                        }
                    }
                }
            }
        }

        // gateway.go buildGatewayNetworkFiltersFromTCPRoutes: the TCP proxy of the first tcp route of a VirtualService bound
        // to the Gateway, one of whose hosts the server's hosts admit (pickMatchingGatewayHosts), that applies to the port;
        // none: no chain (the connection is closed, NR).
        private TcpProxy? TcpRouteOfGateway(IstioGateway gateway, GatewayServer server, int port)
        {
            var gatewayNamespace = NamespaceOf(gateway);
            var gatewayName = $"{gatewayNamespace}/{gateway.Id.Name}";
            foreach (var vs in VirtualServicesBoundTo(gatewayName))
            {
                var vsNamespace = NamespaceOf(vs);
                if (!vs.Hosts.Any(host => ServerAdmits(server, gatewayNamespace, vsNamespace, host)))
                {
                    continue;
                }
                var route = vs.Tcp.FirstOrDefault(r => r.Route.Count > 0 && (r.Match.Count == 0 || r.Match.Any(m => (m.Port is null || m.Port == port)
                    && (m.Gateways.Count == 0 || m.Gateways.Any(g => ResolveGatewayName(g, vsNamespace) == gatewayName)))));
                if (route is not null)
                {
                    return TcpProxyFor(route.Route, port, vs);
                }
            }
            return null;
        }

        // listener.go BuildListenerTLSContext: the served certificate — ISTIO_MUTUAL the workload's (SDS "default"), the
        // other modes the credentialName's (kubernetes://<name>) or the files' (file-cert:<cert>~<key>) —, the client
        // validation context for the modes that validate clients (ISTIO_MUTUAL: the mesh root, ROOTCA; MUTUAL and
        // OPTIONAL_MUTUAL: kubernetes://<name>-cacert or file-root:<ca>) with the server's subjectAltNames as exact
        // matchers, and require_client_certificate for ISTIO_MUTUAL and MUTUAL.
        private DownstreamTlsContext BuildListenerTlsContext(GatewayServer server)
        {
            var validatesClient = server.TlsMode is "ISTIO_MUTUAL" or "MUTUAL" or "OPTIONAL_MUTUAL";
            var credentials = server.Credentials;
            var certificate = credentials is null ? SdsSecretConfig.WorkloadCertificate
                : credentials.CredentialName is { Length: > 0 } name ? MeshEnvironment.CredentialResource(name)
                : $"file-cert:{credentials.ServerCertificate}~{credentials.PrivateKey}";
            var rootCa = credentials is null ? SdsSecretConfig.MeshRoot
                : credentials.CredentialName is { Length: > 0 } caName ? MeshEnvironment.CaCredentialResource(caName)
                : $"file-root:{credentials.CaCertificates}";
            if (credentials is not null)
            {
                // A server's client CA must be a file there: a missing one leaves the secret unsupplied.
                AddSdsSecrets(credentials.CredentialName, credentials.ServerCertificate, credentials.PrivateKey,
                    File.Exists(credentials.CaCertificates) ? credentials.CaCertificates : null, certificate, validatesClient ? rootCa : null);
            }
            var validation = validatesClient
                ? new CombinedCertificateValidationContext(
                    new DefaultValidationContext([.. server.SubjectAltNames.Select(name => new StringMatcher(name, null, null))]),
                    new SdsSecretConfig(rootCa))
                : null;
            return new DownstreamTlsContext(
                new CommonTlsContext([new SdsSecretConfig(certificate)], validation),
                RequireClientCertificate: server.TlsMode is "ISTIO_MUTUAL" or "MUTUAL");
        }

        private RouteConfiguration BuildGatewayRouteConfig(string name, int port, IReadOnlyList<(IstioGateway Gateway, GatewayServer Server)> servers)
        {
            // gateway.go buildGatewayHTTPRouteConfig: every VirtualService bound to a host adds its routes to that
            // host's virtual host; SortVHostRoutes then moves catch-all routes behind the others.
            var routesByHost = new Dictionary<string, List<Route>>(StringComparer.OrdinalIgnoreCase);
            var hostOrder = new List<string>();
            foreach (var (gateway, server) in servers)
            {
                var gatewayNamespace = NamespaceOf(gateway);
                var gatewayName = $"{gatewayNamespace}/{gateway.Id.Name}";
                foreach (var vs in VirtualServicesBoundTo(gatewayName))
                {
                    var vsNamespace = NamespaceOf(vs);
                    var hosts = vs.Hosts.Where(host => ServerAdmits(server, gatewayNamespace, vsNamespace, host)).ToList();
                    if (hosts.Count == 0)
                    {
                        continue;
                    }
                    // gateway.go buildGatewayHTTPRouteConfig: IsTLS when the server has TLS settings (redirects drop :443).
                    var routes = BuildRoutes(vs, port, [gatewayName], sourceIsWorkload: false, isTls: server.TlsMode is not null);
                    if (routes.Count == 0)
                    {
                        continue;
                    }
                    foreach (var host in hosts)
                    {
                        if (!routesByHost.TryGetValue(host, out var existing))
                        {
                            routesByHost[host] = existing = [];
                            hostOrder.Add(host);
                        }
                        existing.AddRange(routes);
                    }
                }
            }
            var virtualHosts = hostOrder
                .Select(host => new VirtualHost($"{host}:{port}", Domains(host, port),
                    [.. routesByHost[host].Where(r => !IsCatchAll(r.Match)), .. routesByHost[host].Where(r => IsCatchAll(r.Match))]))
                .ToList();
            if (virtualHosts.Count == 0)
            {
                // No VirtualService for this server: Envoy answers 404 NR.
                virtualHosts.Add(new VirtualHost($"blackhole:{port}", ["*"], []));
            }
            return new RouteConfiguration(name, virtualHosts);
        }

        private Dictionary<string, List<IstioVirtualService>>? _boundTo;
        private readonly Dictionary<GatewayServer, Dictionary<string, HostIndex<string>>> _serverHosts = new(ReferenceEqualityComparer.Instance);

        // The VirtualServices this proxy sees that name the Gateway (namespace/name) in their gateways, in order.
        private List<IstioVirtualService> VirtualServicesBoundTo(string gatewayName)
        {
            if (_boundTo is null)
            {
                _boundTo = new(StringComparer.Ordinal);
                foreach (var vs in VisibleVirtualServices())
                {
                    foreach (var name in vs.Gateways.Select(reference => ResolveGatewayName(reference, NamespaceOf(vs))).Distinct(StringComparer.Ordinal))
                    {
                        if (!_boundTo.TryGetValue(name, out var bound))
                        {
                            _boundTo[name] = bound = [];
                        }
                        bound.Add(vs);
                    }
                }
            }
            return _boundTo.GetValueOrDefault(gatewayName) ?? [];
        }

        // gateway.go: a server host "ns/host" admits VirtualServices of ns only ("./" = the Gateway's own, "*/" or none: any);
        // the names match when either covers the other.
        private bool ServerAdmits(GatewayServer server, string gatewayNamespace, string vsNamespace, string host)
        {
            if (!_serverHosts.TryGetValue(server, out var byNamespace))
            {
                byNamespace = server.Hosts.Select(h => HostName.SplitServerHost(h, gatewayNamespace))
                    .GroupBy(h => h.Namespace, StringComparer.Ordinal)
                    .ToDictionary(g => g.Key, g => new HostIndex<string>(g.Select(h => h.Host), pattern => [pattern]), StringComparer.Ordinal);
                _serverHosts[server] = byNamespace;
            }
            return (byNamespace.TryGetValue("*", out var any) && any.AnyOverlaps(host))
                || (byNamespace.TryGetValue(vsNamespace, out var own) && own.AnyOverlaps(host));
        }

        // model.ResolveGatewayName: "name" is in the VirtualService's namespace; "ns/name" as written; "mesh" stays.
        private static string ResolveGatewayName(string reference, string vsNamespace) =>
            reference == MeshEnvironment.MeshGateway ? reference
            : reference.Contains('/') ? reference
            : $"{vsNamespace}/{reference.Split('.')[0]}";
    }
}
