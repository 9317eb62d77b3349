namespace Demo.Deploy.Tests.Reachability;

/// <summary>One way a flow can go, hop by hop, and the first layer that stops it (null: it gets through).</summary>
internal sealed record FlowResult(IReadOnlyList<string> Steps, Decision? Denial)
{
    public bool Allowed => Denial is null;

    public override string ToString() => string.Join("\n  ", Steps) + (Denial is null ? "\n  => allowed" : $"\n  => DENIED by {Denial.Layer}: {Denial.Reason}");
}

/// <summary>
/// Which flows a rendered configuration lets through, layer by layer, as the cluster would decide them:
/// DNS (the app must resolve the name: Kubernetes DNS, public DNS, or Istio's DNS proxy for a ServiceEntry host
/// without addresses, which needs ISTIO_META_DNS_CAPTURE and ISTIO_META_DNS_AUTO_ALLOCATE on the workload);
/// the client proxy's view (the Sidecar resource of its namespace — hosts <c>namespace/dnsName</c> — intersected
/// with each service's <c>exportTo</c>; what is not visible goes to the BlackHoleCluster under REGISTRY_ONLY,
/// to the PassthroughCluster under ALLOW_ANY; gateways ignore Sidecar resources); the mesh-bound VirtualService
/// of the host (every destination of every route, with its Host header); the DestinationRule's client TLS, or
/// Istio's auto mTLS towards a workload with a proxy; NetworkPolicies on the connection that leaves the pod
/// (<see cref="NetworkPolicyEvaluator"/>); at a workload with a sidecar, PeerAuthentication (STRICT refuses plain
/// text) and AuthorizationPolicy (<see cref="AuthorizationPolicyEvaluator"/>); at the egress gateway, the Gateway
/// server whose port and hosts match the connection's SNI (the filter chain; ISTIO_MUTUAL needs a mesh client),
/// then the route of a VirtualService bound to that Gateway whose hosts match the Host header (the server's
/// <c>namespace/</c> part limits which VirtualServices may bind), then its AuthorizationPolicies, then the
/// upstream, which must be registered for the gateway's namespace.
/// </summary>
internal sealed class MeshReachability(ClusterModel cluster, IstioConfig istio, MeshConfig mesh)
{
    private readonly NetworkPolicyEvaluator _networkPolicies = new(cluster);
    private readonly AuthorizationPolicyEvaluator _authorization = new(istio, mesh.RootNamespace);

    /// <summary>A plain connection (an istio-agent to istiod, a DNS query): NetworkPolicies only.</summary>
    public FlowResult Connect(Pod from, Endpoint to, ContainerPort port)
    {
        var decision = _networkPolicies.Allows(from, to, port);
        return new([decision.Allowed ? decision.Reason : $"{from} -> {to} {port.Protocol}/{port.Number}"], decision.Allowed ? null : decision);
    }

    /// <summary>The app in <paramref name="from"/> connects to <paramref name="host"/>:<paramref name="port"/> (its sidecar, if any, captures it).</summary>
    public IReadOnlyList<FlowResult> AppRequest(Pod from, string host, int port)
    {
        var steps = new List<string> { $"app {from} -> {host}:{port}" };
        var resolved = Resolve(from, host);
        if (resolved.Denial is { } dnsDenial)
        {
            return [new(steps, dnsDenial)];
        }
        steps.Add(resolved.Step);
        if (!from.InMesh)
        {
            return [.. Direct(from, resolved.Host, port, steps, plainText: true)];
        }
        return [.. ProxyRequest(from, resolved.Host, port, steps)];
    }

    /// <summary>The Istio proxy of <paramref name="from"/> itself sends to a service (e.g. its tracer to the OTLP backend).</summary>
    public IReadOnlyList<FlowResult> ProxyRequest(Pod from, string host, int port) =>
        [.. ProxyRequest(from, host, port, [$"proxy of {from} -> {host}:{port}"])];

    /// <summary>
    /// The proxy of <paramref name="from"/> opens Istio mTLS to the gateway <paramref name="gateway"/> on its Service
    /// port <paramref name="port"/> with <paramref name="sni"/> and sends Host <paramref name="host"/> — what a
    /// DestinationRule subset with <c>ISTIO_MUTUAL</c> and <c>sni</c> makes it do.
    /// </summary>
    public IReadOnlyList<FlowResult> GatewayRequest(Pod from, Pod gateway, int port, string sni, string host)
    {
        var steps = new List<string> { $"proxy of {from} -> gateway {gateway}:{port}, ISTIO_MUTUAL SNI {sni}, Host {host}" };
        var service = cluster.Services.First(s => cluster.Endpoints(s, port).Any(e => e.Pod == gateway));
        var (_, targetPort) = cluster.Endpoints(service, port).First(e => e.Pod == gateway);
        var l4 = _networkPolicies.Allows(from, gateway, targetPort);
        if (!l4.Allowed)
        {
            return [new(steps, l4)];
        }
        steps.Add(l4.Reason);
        return [.. AtGateway(from, gateway, port, new ClientTls("ISTIO_MUTUAL", sni), host, steps)];
    }

    /// <summary>
    /// The tracing providers <paramref name="pod"/>'s proxy reports spans to, as Istio's Telemetry API combines them
    /// (pilot/pkg/model/telemetry.go): the root namespace's, then the pod's namespace's, then workload-selected
    /// ones, a later <c>providers</c> or <c>disableSpanReporting</c> overriding an earlier one. Empty: no spans.
    /// </summary>
    public IReadOnlyList<string> TracingProviders(Pod pod)
    {
        IReadOnlyList<string> providers = [];
        var disabled = false;
        foreach (var t in istio.Telemetries.Where(t => t.Namespace == mesh.RootNamespace && t.Selector is null && pod.Namespace != mesh.RootNamespace)
            .Concat(istio.Telemetries.Where(t => t.Namespace == pod.Namespace && t.Selector is null))
            .Concat(istio.Telemetries.Where(t => t.Namespace == pod.Namespace && t.Selector is not null && LabelSelectors.Matches(t.Selector, pod.Labels))))
        {
            if (t.Providers.Count > 0)
            {
                providers = t.Providers;
            }
            disabled = t.DisableSpanReporting ?? disabled;
        }
        return disabled ? [] : providers;
    }

    private (string Host, string Step, Decision? Denial) Resolve(Pod from, string host)
    {
        foreach (var candidate in new[] { host, $"{host}.{from.Namespace}.svc.cluster.local", $"{host}.svc.cluster.local" })
        {
            if (cluster.Services.Any(s => s.Hostname == candidate))
            {
                return (candidate, $"DNS: {host} is Service {candidate}", null);
            }
        }
        var entry = VisibleServiceEntries(from).FirstOrDefault(se => se.Hosts.Any(h => HostMatches(h, host)));
        if (cluster.ExternalDns.TryGetValue(host, out var address))
        {
            return (host, $"DNS: {host} is {address} (public DNS)", null);
        }
        if (entry is not null && entry.Addresses.Count == 0)
        {
            var metadata = new Dictionary<string, string>(mesh.DefaultProxyMetadata);
            foreach (var (key, value) in from.ProxyMetadata ?? new Dictionary<string, string>())
            {
                metadata[key] = value;
            }
            bool On(string key) => metadata.TryGetValue(key, out var v) && v == "true";
            if (from.InMesh && On("ISTIO_META_DNS_CAPTURE") && On("ISTIO_META_DNS_AUTO_ALLOCATE"))
            {
                return (host, $"DNS: the sidecar's DNS proxy answers {host} (ServiceEntry {entry.Namespace}/{entry.Name}) with an auto-allocated address", null);
            }
            return (host, "", Decision.Deny("DNS",
                $"{host} exists only as ServiceEntry {entry.Namespace}/{entry.Name}: {from} needs ISTIO_META_DNS_CAPTURE and ISTIO_META_DNS_AUTO_ALLOCATE (proxy.istio.io/config) to resolve it"));
        }
        return (host, "", Decision.Deny("DNS", $"{host} does not resolve for {from}"));
    }

    private IEnumerable<FlowResult> ProxyRequest(Pod from, string host, int port, List<string> steps)
    {
        var scope = SidecarFor(from);
        if (!IsVisible(from, host, out var where))
        {
            var mode = scope?.OutboundTrafficPolicy ?? mesh.OutboundTrafficPolicy;
            var scopeName = scope is null ? "no Sidecar resource" : $"Sidecar {scope.Namespace}/{scope.Name}";
            if (mode == "REGISTRY_ONLY")
            {
                yield return new(steps, Decision.Deny("Sidecar",
                    $"{host} is not in the registry the proxy of {from} sees ({scopeName}, exportTo), and outboundTrafficPolicy is REGISTRY_ONLY: BlackHoleCluster"));
                yield break;
            }
            foreach (var result in Direct(from, host, port, [.. steps, $"{scopeName}: {host} unknown, ALLOW_ANY: PassthroughCluster"], plainText: false))
            {
                yield return result;
            }
            yield break;
        }
        steps.Add($"proxy of {from} sees {host} ({where})");

        var virtualService = istio.VirtualServices.FirstOrDefault(vs => (vs.Gateways.Count == 0 || vs.Gateways.Contains("mesh"))
            && vs.Hosts.Any(h => HostMatches(h, host)) && Exported(vs.ExportTo, vs.Namespace, from.Namespace)
            && (scope is null || ScopeAllows(scope, vs.Namespace, host)));
        if (virtualService is null)
        {
            foreach (var result in Forward(from, host, port, null, host, steps))
            {
                yield return result;
            }
            yield break;
        }
        foreach (var route in virtualService.Http)
        {
            foreach (var destination in route.Route)
            {
                var destinationSteps = new List<string>(steps)
                {
                    $"VirtualService {virtualService.Namespace}/{virtualService.Name} route {route.Name}: {destination.Host}:{destination.Port ?? port}"
                        + (destination.Subset is null ? "" : $" subset {destination.Subset}") + (destination.SetHost is null ? "" : $", Host: {destination.SetHost}"),
                };
                if (!IsVisible(from, destination.Host, out var destinationWhere))
                {
                    yield return new(destinationSteps, Decision.Deny("Sidecar", $"the destination {destination.Host} is not visible to the proxy of {from}"));
                    continue;
                }
                destinationSteps.Add($"proxy of {from} sees {destination.Host} ({destinationWhere})");
                foreach (var result in Forward(from, destination.Host, destination.Port ?? port, destination.Subset, destination.SetHost ?? host, destinationSteps))
                {
                    yield return result;
                }
            }
        }
    }

    /// <summary>The client proxy of <paramref name="from"/> sends to a visible service host.</summary>
    private IEnumerable<FlowResult> Forward(Pod from, string host, int port, string? subset, string authority, List<string> steps)
    {
        var service = cluster.Services.FirstOrDefault(s => s.Hostname == host);
        var tls = ClientTlsFor(from, host, port, subset);
        if (service is null)
        {
            foreach (var result in Direct(from, host, port, [.. steps, tls is null ? "plain" : $"TLS {tls.Mode} sni {tls.Sni}"], plainText: tls is null))
            {
                yield return result;
            }
            yield break;
        }
        var endpoints = cluster.Endpoints(service, port).ToList();
        if (endpoints.Count == 0)
        {
            yield return new(steps, Decision.Deny("Service", $"{host}:{port} has no endpoints"));
            yield break;
        }
        foreach (var (pod, targetPort) in endpoints)
        {
            var hop = new List<string>(steps);
            var l4 = _networkPolicies.Allows(from, pod, targetPort);
            if (!l4.Allowed)
            {
                yield return new(hop, l4);
                continue;
            }
            hop.Add(l4.Reason);
            // Istio's auto mTLS: towards a workload with a proxy, ISTIO_MUTUAL unless a DestinationRule says otherwise;
            // the SNI is then Istio's own outbound_.<port>_.<subset>_.<host>, never a host a Gateway server lists.
            var effective = tls ?? (pod.InMesh && from.InMesh ? new ClientTls("ISTIO_MUTUAL", null) : null);
            hop.Add(effective is null ? "plain text" : $"{effective.Mode}, SNI {effective.Sni ?? $"outbound_.{port}_.{subset}_.{host} (auto)"}");
            var mtls = effective?.Mode == "ISTIO_MUTUAL" && from.InMesh;
            if (pod.IsGateway)
            {
                foreach (var result in AtGateway(from, pod, port, effective, authority, hop))
                {
                    yield return result;
                }
                continue;
            }
            if (pod.InMesh)
            {
                var (mode, source) = PeerAuthenticationFor(pod);
                if (mode == "STRICT" && !mtls)
                {
                    yield return new(hop, Decision.Deny("PeerAuthentication", $"{source} is STRICT on {pod}: plain text refused"));
                    continue;
                }
                hop.Add($"PeerAuthentication {mode} on {pod} ({source}): {(mtls ? "mTLS" : "plain text")} accepted");
                var authz = _authorization.Evaluate(pod, new AuthorizationRequest(mtls ? from.Principal : null, authority, targetPort.Number));
                if (!authz.Allowed)
                {
                    yield return new(hop, authz);
                    continue;
                }
                hop.Add(authz.Reason);
            }
            yield return new(hop, null);
        }
    }

    private IEnumerable<FlowResult> AtGateway(Pod from, Pod gateway, int port, ClientTls? tls, string authority, List<string> steps)
    {
        var servers = istio.Gateways.Where(g => LabelSelectors.Matches(g.Selector, gateway.Labels))
            .SelectMany(g => g.Servers.Where(s => s.Port == port).Select(s => (Gateway: g, Server: s))).ToList();
        var sni = tls?.Sni;
        var chain = servers.FirstOrDefault(s => sni is not null && s.Server.Hosts.Any(h => HostMatches(h[(h.IndexOf('/', StringComparison.Ordinal) + 1)..], sni)));
        if (chain.Gateway is null)
        {
            yield return new(steps, Decision.Deny("Gateway",
                $"no server of a Gateway selecting {gateway} on port {port} has a host matching the SNI {sni ?? "(auto mTLS SNI)"}: no filter chain"));
            yield break;
        }
        var (g, server) = chain;
        if (server.Protocol != "HTTPS" || server.TlsMode != "ISTIO_MUTUAL")
        {
            throw new NotSupportedException($"Gateway {g.Namespace}/{g.Name}: server {server.Protocol}/{server.TlsMode} is not modelled");
        }
        if (!(from.InMesh && tls?.Mode == "ISTIO_MUTUAL"))
        {
            yield return new(steps, Decision.Deny("Gateway", $"Gateway {g.Namespace}/{g.Name} server {port} is ISTIO_MUTUAL; {from} has no mesh certificate"));
            yield break;
        }
        steps.Add($"Gateway {g.Namespace}/{g.Name}: SNI {sni} selects server {port} (ISTIO_MUTUAL, client {from.Principal})");

        bool Binds(VirtualService vs) => vs.Gateways.Any(name => name.Contains('/', StringComparison.Ordinal)
            ? name == $"{g.Namespace}/{g.Name}"
            : name == g.Name && vs.Namespace == g.Namespace);
        bool ServerAllows(VirtualService vs) => server.Hosts.Any(h =>
        {
            var slash = h.IndexOf('/', StringComparison.Ordinal);
            var ns = slash < 0 ? "*" : h[..slash];
            var dns = slash < 0 ? h : h[(slash + 1)..];
            return (ns == "*" || (ns == "." ? vs.Namespace == g.Namespace : vs.Namespace == ns)) && HostMatches(dns, authority);
        });
        var routes = istio.VirtualServices.Where(vs => Binds(vs) && ServerAllows(vs) && Exported(vs.ExportTo, vs.Namespace, g.Namespace)
                && vs.Hosts.Any(h => HostMatches(h, authority)))
            .SelectMany(vs => vs.Http.Where(r => r.Match.Count == 0 || r.Match.Any(m => MatchMayAccept(m, g, port, authority))).Select(r => (vs, r)))
            .ToList();
        if (routes.Count == 0)
        {
            yield return new(steps, Decision.Deny("Gateway", $"no VirtualService bound to Gateway {g.Namespace}/{g.Name} routes Host {authority}: 404 NR"));
            yield break;
        }
        var authz = _authorization.Evaluate(gateway, new AuthorizationRequest(from.Principal, authority, port, sni));
        if (!authz.Allowed)
        {
            yield return new(steps, authz);
            yield break;
        }
        steps.Add(authz.Reason);
        foreach (var (vs, route) in routes)
        {
            foreach (var destination in route.Route)
            {
                var hop = new List<string>(steps) { $"VirtualService {vs.Namespace}/{vs.Name} route {route.Name} (Host {authority}) -> {destination.Host}:{destination.Port ?? port}" };
                if (!IsVisible(gateway, destination.Host, out var where))
                {
                    yield return new(hop, Decision.Deny("Gateway", $"{destination.Host} is not registered for the gateway's namespace {gateway.Namespace}"));
                    continue;
                }
                hop.Add($"gateway sees {destination.Host} ({where})");
                foreach (var result in Forward(gateway, destination.Host, destination.Port ?? port, destination.Subset, destination.SetHost ?? authority, hop))
                {
                    yield return result;
                }
            }
        }
    }

    private static bool MatchMayAccept(HttpMatch match, Gateway gateway, int port, string authority) =>
        (match.Gateways.Count == 0 || match.Gateways.Any(n => n == gateway.Name || n == $"{gateway.Namespace}/{gateway.Name}"))
        && (match.Port is null || match.Port == port)
        && (match.AuthorityExact is null || string.Equals(match.AuthorityExact, authority, StringComparison.OrdinalIgnoreCase))
        && (match.AuthorityPrefix is null || authority.StartsWith(match.AuthorityPrefix, StringComparison.OrdinalIgnoreCase));

    /// <summary>A connection to an address outside the pod network (external host), or to a Service's pods without a mesh.</summary>
    private IEnumerable<FlowResult> Direct(Pod from, string host, int port, List<string> steps, bool plainText)
    {
        if (cluster.Services.FirstOrDefault(s => s.Hostname == host) is { } service)
        {
            foreach (var (pod, targetPort) in cluster.Endpoints(service, port))
            {
                var l4 = _networkPolicies.Allows(from, pod, targetPort);
                if (!l4.Allowed)
                {
                    yield return new(steps, l4);
                    continue;
                }
                if (pod.InMesh && plainText && PeerAuthenticationFor(pod) is ("STRICT", var source))
                {
                    yield return new([.. steps, l4.Reason], Decision.Deny("PeerAuthentication", $"{source} is STRICT on {pod}: plain text refused"));
                    continue;
                }
                yield return new([.. steps, l4.Reason], null);
            }
            yield break;
        }
        if (!cluster.ExternalDns.TryGetValue(host, out var address))
        {
            yield return new(steps, Decision.Deny("Upstream", $"{host} has no address the proxy can resolve"));
            yield break;
        }
        var decision = _networkPolicies.Allows(from, new AddressEndpoint(host, address), new ContainerPort(port));
        yield return decision.Allowed ? new([.. steps, decision.Reason], null) : new(steps, decision);
    }

    private ClientTls? ClientTlsFor(Pod from, string host, int port, string? subset)
    {
        var rule = istio.DestinationRules.Where(dr => HostMatches(dr.Host, host) && Exported(dr.ExportTo, dr.Namespace, from.Namespace))
            .OrderBy(dr => dr.Namespace == from.Namespace ? 0 : 1).FirstOrDefault();
        if (rule is null)
        {
            return null;
        }
        if (subset is not null && rule.Subsets.TryGetValue(subset, out var s) && (s.PortTls.GetValueOrDefault(port) ?? s.Tls) is { } subsetTls)
        {
            return subsetTls;
        }
        return rule.PortTls.GetValueOrDefault(port) ?? rule.Tls;
    }

    /// <summary>The Sidecar resource for a workload: selected in its namespace, else its namespace's default, else the root namespace's; none for gateways.</summary>
    public Sidecar? SidecarFor(Pod pod)
    {
        if (pod.IsGateway)
        {
            return null;
        }
        return istio.Sidecars.FirstOrDefault(s => s.Namespace == pod.Namespace && s.WorkloadSelector is not null && LabelSelectors.Matches(s.WorkloadSelector, pod.Labels))
            ?? istio.Sidecars.FirstOrDefault(s => s.Namespace == pod.Namespace && s.WorkloadSelector is null)
            ?? istio.Sidecars.FirstOrDefault(s => s.Namespace == mesh.RootNamespace && s.WorkloadSelector is null);
    }

    /// <summary>Whether the proxy of <paramref name="from"/> has <paramref name="host"/> in its registry: exported to its namespace and, for a sidecar, imported by its Sidecar.</summary>
    public bool IsVisible(Pod from, string host, out string where)
    {
        var scope = SidecarFor(from);
        if (cluster.Services.FirstOrDefault(s => s.Hostname == host) is { } service && (scope is null || ScopeAllows(scope, service.Namespace, host)))
        {
            where = $"Service {service.Namespace}/{service.Name}" + (scope is null ? "" : $", imported by Sidecar {scope.Namespace}/{scope.Name}");
            return true;
        }
        if (VisibleServiceEntries(from).FirstOrDefault(se => se.Hosts.Any(h => HostMatches(h, host))) is { } entry)
        {
            where = $"ServiceEntry {entry.Namespace}/{entry.Name}" + (scope is null ? "" : $", imported by Sidecar {scope.Namespace}/{scope.Name}");
            return true;
        }
        where = "";
        return false;
    }

    private IEnumerable<ServiceEntry> VisibleServiceEntries(Pod from)
    {
        var scope = SidecarFor(from);
        return istio.ServiceEntries.Where(se => Exported(se.ExportTo, se.Namespace, from.Namespace)
            && (scope is null || se.Hosts.Any(h => ScopeAllows(scope, se.Namespace, h))));
    }

    private (string Mode, string Source) PeerAuthenticationFor(Pod pod)
    {
        var chain = new[]
        {
            istio.PeerAuthentications.FirstOrDefault(p => p.Namespace == pod.Namespace && p.Selector is not null && LabelSelectors.Matches(p.Selector, pod.Labels)),
            istio.PeerAuthentications.FirstOrDefault(p => p.Namespace == pod.Namespace && p.Selector is null),
            istio.PeerAuthentications.FirstOrDefault(p => p.Namespace == mesh.RootNamespace && p.Selector is null),
        };
        foreach (var policy in chain)
        {
            if (policy?.Mode is { } mode && mode != "UNSET")
            {
                return (mode, $"PeerAuthentication {policy.Namespace}/{policy.Name}");
            }
        }
        return ("PERMISSIVE", "Istio's default");
    }

    /// <summary>Sidecar egress hosts <c>namespace/dnsName</c>: namespace <c>*</c>, <c>.</c> (the Sidecar's own) or a name, <c>~</c> none.</summary>
    private static bool ScopeAllows(Sidecar scope, string serviceNamespace, string host) =>
        scope.EgressHosts.Any(entry =>
        {
            var slash = entry.IndexOf('/', StringComparison.Ordinal);
            var ns = entry[..slash];
            var dns = entry[(slash + 1)..];
            var namespaceMatches = ns switch
            {
                "*" => true,
                "." => serviceNamespace == scope.Namespace,
                "~" => false,
                _ => serviceNamespace == ns,
            };
            return namespaceMatches && HostMatches(dns, host);
        });

    /// <summary>exportTo: <c>*</c> everywhere, <c>.</c> the resource's namespace, <c>~</c> nowhere, else the listed namespaces.</summary>
    private static bool Exported(IReadOnlyList<string> exportTo, string resourceNamespace, string consumerNamespace) =>
        exportTo.Any(e => e == "*" || (e == "." && resourceNamespace == consumerNamespace) || e == consumerNamespace);

    /// <summary>Istio host matching: exact (case-insensitive), <c>*</c> anything, <c>*.suffix</c> any host ending in <c>.suffix</c>.</summary>
    public static bool HostMatches(string pattern, string host) =>
        pattern == "*"
        || (pattern.StartsWith("*.", StringComparison.Ordinal) && host.EndsWith(pattern[1..], StringComparison.OrdinalIgnoreCase))
        || string.Equals(pattern, host, StringComparison.OrdinalIgnoreCase);
}
