namespace Demo.EgressGateway.Istio;

/// <summary>
/// Cross-resource checks, like <c>istioctl analyze</c>, with the mistakes that break egress traffic shifting
/// named in plain words. Usable without starting the gateway: <c>dotnet run --project Demo.EgressGateway -- analyze deploy/istio</c>.
/// Errors are what the local gateway cannot honour (it refuses to start). Warnings are configurations Istio
/// accepts but that break egress traffic — the gateway runs them faithfully (so the bug shows), and
/// <c>analyze</c> fails on them.
/// </summary>
public static partial class IstioAnalyzer
{
    public static IReadOnlyList<ConfigDiagnostic> Analyze(IstioConfigSet config, MeshEnvironment? environment = null)
    {
        environment ??= new MeshEnvironment();
        var diagnostics = new List<ConfigDiagnostic>();
        var serviceEntries = config.OfKind<ServiceEntry>().ToList();
        var gateways = config.OfKind<Gateway>().ToList();
        var destinationRules = config.OfKind<DestinationRule>().ToList();
        var virtualServices = config.OfKind<VirtualService>().ToList();
        var entryHosts = new HostIndex<ServiceEntry>(serviceEntries, se => se.Hosts);
        // The rules every proxy of a namespace uses: those without a workloadSelector (a rule with one applies only to
        // the workloads it selects, sidecar.go SidecarScope.DestinationRule, and is merged with no other).
        var sharedRules = destinationRules.Where(dr => dr.WorkloadSelector is null).ToList();
        var selectorRules = destinationRules.Where(dr => dr.WorkloadSelector is not null).ToList();
        var ruleHosts = new HostIndex<DestinationRule>(MergedRules(sharedRules, environment), dr => [dr.Host]);

        void Error(IstioResource r, string? field, string message) =>
            diagnostics.Add(new(DiagnosticSeverity.Error, r.Id.File, r.Id.ToString(), field, message));
        void Warn(IstioResource r, string? field, string message) =>
            diagnostics.Add(new(DiagnosticSeverity.Warning, r.Id.File, r.Id.ToString(), field, message));

        // The loader accepts any well-formed version of networking.istio.io; whether the declared Istio serves it is
        // known here (kubectl apply would fail with "no matches for kind ... in version ...").
        foreach (var resource in config.Resources.Where(r => r.Id.ApiVersion.Length > 0 && !environment.IstioVersion.Serves(r.Id.ApiVersion)))
        {
            var group = resource.Id.ApiVersion.Split('/')[0];
            var served = environment.IstioVersion.ServedVersions(group);
            Error(resource, "apiVersion", $"'{resource.Id.ApiVersion}' is not served by Istio {environment.IstioVersion} ("
                + (served.Count == 0 ? $"it serves no version of {group})" : $"it serves {group}/{string.Join(", ", served)})"));
        }

        // istioctl analyze IST0111 MultipleSidecarsWithoutWorkloadSelectors (analyzers/sidecar/selector.go; empty labels
        // count as none): which of them applies is undefined. istioctl calls it an error, but the cluster accepts the
        // resources, so here it is a warning and the configuration applies (the first Sidecar in load order wins).
        foreach (var unselected in config.OfKind<Sidecar>().Where(s => s.WorkloadSelector.Count == 0)
                     .GroupBy(s => s.Id.Namespace ?? environment.WorkloadNamespace).Where(g => g.Count() > 1))
        {
            foreach (var sidecar in unselected)
            {
                Warn(sidecar, "spec.workloadSelector", $"IST0111: the Sidecars [{string.Join(", ", unselected.Select(s => s.Id.Name))}] in namespace \"{unselected.Key}\" have no workload selector, which can lead to undefined behavior.");
            }
        }

        foreach (var duplicate in config.Resources.GroupBy(r => (r.Id.Kind, r.Id.Name, r.Id.Namespace)).Where(g => g.Count() > 1))
        {
            var first = duplicate.First();
            foreach (var other in duplicate.Skip(1))
            {
                Error(other, "metadata.name", $"is defined twice (also in {Path.GetFileName(first.Id.File)})");
            }
        }

        bool IsExternal(string host) => !HostName.Matches(environment.EgressGatewayService, host) && entryHosts.AnyMatches(host);

        bool IsRegistered(string host) => HostName.Matches(environment.EgressGatewayService, host) || entryHosts.AnyMatches(host);

        DestinationRule? RuleFor(string host) => ruleHosts.MostSpecific(host);

        string NamespaceOf(IstioResource resource) => resource.Id.Namespace ?? environment.WorkloadNamespace;

        // service_lookup.go GetDestinationHost: a ServiceEntry is seen from everywhere with no exportTo or "*", else from
        // the namespaces it lists ("." its own); for its exact hosts a VirtualService looks in its own namespace, or —
        // with an exportTo — in those it lists; for its wildcard hosts only in its own.
        bool IsVisibleFrom(string host, VirtualService vs)
        {
            var own = NamespaceOf(vs);
            var from = vs.ExportTo.Count == 0 ? [own] : vs.ExportTo.Select(e => e == "." ? own : e).ToList();
            return entryHosts.Matching(host).Any(se =>
            {
                if (se.ExportTo.Count == 0 || se.ExportTo.Contains("*"))
                {
                    return true;
                }
                var scopes = se.ExportTo.Select(e => e == "." ? NamespaceOf(se) : e).ToList();
                var exact = se.Hosts.Contains(host, StringComparer.OrdinalIgnoreCase);
                return exact ? scopes.Exists(from.Contains) : scopes.Contains(own);
            });
        }
        var subsets = new SubsetLookup();

        // DestinationRules: one per host, subsets unique, TLS origination complete.
        // In istiod's order (creation time, then name: see IstioTranslator's RuleIndexes).
        foreach (var group in sharedRules.GroupBy(dr => (Host: dr.Host.ToLowerInvariant(), dr.Id.Namespace)).Where(g => g.Count() > 1))
        {
            var ordered = group.OrderBy(dr => dr.Id.Name, StringComparer.Ordinal).ToList();
            var first = ordered[0];
            foreach (var dr in ordered.Skip(1))
            {
                if (MergesInto(first, dr, environment))
                {
                    Warn(dr, "spec.host", $"'{dr.Host}' already has DestinationRule '{first.Id.Name}' in this namespace: Istio merges them — the subsets are combined, and only the first rule's trafficPolicy applies");
                }
                else
                {
                    Warn(dr, "spec.exportTo", $"'{dr.Host}' already has DestinationRule '{first.Id.Name}' in this namespace with another exportTo: Istio {environment.IstioVersion} does not merge them (from 1.24) — a proxy that sees both uses only the one created last (by name when created in the same second), with its subsets alone");
                }
            }
        }
        foreach (var dr in destinationRules)
        {
            if (!IsRegistered(dr.Host) && !entryHosts.AnyOverlaps(dr.Host))
            {
                Warn(dr, "spec.host", $"'{dr.Host}' is not registered by any ServiceEntry, so this rule applies to nothing");
            }
            foreach (var name in dr.Subsets.GroupBy(s => s.Name).Where(g => g.Count() > 1).Select(g => g.Key))
            {
                Error(dr, "spec.subsets", $"subset '{name}' is defined twice");
            }
            foreach (var (tls, field) in AllTls(dr))
            {
                CheckClientTls(dr, tls, field, environment, Warn, Error);
            }
            foreach (var (policy, field) in new[] { (dr.TrafficPolicy, "spec.trafficPolicy") }
                .Concat(dr.Subsets.Select((s, i) => (s.TrafficPolicy, $"spec.subsets[{i}].trafficPolicy"))))
            {
                CheckPortLevelShadowing(dr, policy, field, Warn);
            }
        }

        // Gateways played by the egress gateway.
        var egressGateways = gateways.Where(g => environment.GatewayLabels.All(l => g.Selector.TryGetValue(l.Key, out var v) && v == l.Value)).ToList();
        var egressServerHosts = new HostIndex<Gateway>(egressGateways, gw => ServerHostsFor(gw, null));
        var gatewayHosts = new Dictionary<Gateway, Dictionary<string, HostIndex<Gateway>>>(ReferenceEqualityComparer.Instance);
        foreach (var gateway in gateways.Except(egressGateways))
        {
            Warn(gateway, "spec.selector", $"does not select the egress gateway ({string.Join(",", environment.GatewayLabels.Select(l => $"{l.Key}={l.Value}"))}); the local gateway ignores it");
        }

        CheckSharedTcpServers(gateways, virtualServices, Warn);

        foreach (var vs in virtualServices)
        {
            var vsGateways = vs.Gateways.Count == 0 ? [MeshEnvironment.MeshGateway] : vs.Gateways;
            var boundToMesh = vsGateways.Contains(MeshEnvironment.MeshGateway);
            for (var g = 0; g < vs.Gateways.Count; g++)
            {
                var gatewayName = vs.Gateways[g];
                if (gatewayName == MeshEnvironment.MeshGateway)
                {
                    continue;
                }
                var gateway = FindGateway(gateways, gatewayName, vs.Id.Namespace);
                if (gateway is null)
                {
                    var where = !gatewayName.Contains('/', StringComparison.Ordinal) && vs.Id.Namespace is { } own
                        ? $" in namespace '{own}' (a short name is the VirtualService's namespace)" : "";
                    Warn(vs, $"spec.gateways[{g}]", $"Gateway '{gatewayName}' does not exist{where}: Istio accepts this, and no gateway serves these routes");
                    continue;
                }
                if (!gatewayHosts.TryGetValue(gateway, out var byNamespace))
                {
                    gatewayHosts[gateway] = byNamespace = new Dictionary<string, HostIndex<Gateway>>(StringComparer.Ordinal);
                }
                if (!byNamespace.TryGetValue(vs.Id.Namespace ?? "", out var serverHosts))
                {
                    byNamespace[vs.Id.Namespace ?? ""] = serverHosts = new HostIndex<Gateway>([gateway], gw => ServerHostsFor(gw, vs.Id.Namespace));
                }
                foreach (var host in vs.Hosts)
                {
                    if (!serverHosts.AnyMatches(host))
                    {
                        Warn(vs, "spec.hosts", $"'{host}' is not among the hosts of Gateway '{gateway.Id.Name}', so the gateway never routes it here");
                    }
                }
            }

            if (boundToMesh)
            {
                foreach (var host in vs.Hosts.Where(h => !IsRegistered(h)))
                {
                    if (vs.Http.Count > 0)
                    {
                        Warn(vs, "spec.hosts", $"'{host}' is not registered by any ServiceEntry: Istio still gives it a virtual host on port 80 only, and requests on other ports meet REGISTRY_ONLY's block_all (502)");
                    }
                    if (vs.Tls.Count > 0 || vs.Tcp.Count > 0)
                    {
                        // tls.go getConfigsForHost: a sidecar builds TLS/TCP chains only for the services it sees.
                        Warn(vs, "spec.hosts", $"'{host}' is not registered by any ServiceEntry: the sidecar builds no chain for its tls/tcp routes, so its connections meet the outbound traffic policy (REGISTRY_ONLY: closed)");
                    }
                }
                foreach (var host in vs.Hosts.Where(IsRegistered).Where(_ => vs.Http.Count > 0))
                {
                    var ports = entryHosts.Overlapping(host).SelectMany(se => se.Ports).ToList();
                    if (ports.Count > 0 && ports.All(p => p.Protocol is "HTTPS" or "TLS" or "TCP" or "MONGO"))
                    {
                        Warn(vs, "spec.http", $"never applies to '{host}': its ports ({string.Join(", ", ports.Select(p => $"{p.Number}/{p.Protocol}"))}) are not HTTP, so the sidecar passes its connections through as TLS/TCP and builds no HTTP routes for it");
                    }
                }
            }

            foreach (var route in vs.Http)
            {
                CheckRoute(vs, route, boundToMesh);
                CheckFieldsTheVersionKnows(vs, route);
            }
            foreach (var d in vs.Tls.SelectMany(r => r.Route).Concat(vs.Tcp.SelectMany(r => r.Route)))
            {
                CheckDestination(vs, d.Destination, $"{d.Field}.destination");
            }
        }

        // Fields and values that a later Istio than the declared one introduced: its API server (CRD schema) or
        // validation webhook refuses them, so the local gateway does too.
        void CheckFieldsTheVersionKnows(VirtualService vs, HttpRoute route)
        {
            var version = environment.IstioVersion;
            if (route.Retries is not { } retries)
            {
                return;
            }
            if (!version.AcceptsRetryBackoffAndRetryIgnorePreviousHosts)
            {
                if (retries.Backoff is not null)
                {
                    Error(vs, $"{route.Field}.retries.backoff", $"does not exist in Istio {version}: the VirtualService API has it from 1.26");
                }
                if (retries.RetryIgnorePreviousHosts is not null)
                {
                    Error(vs, $"{route.Field}.retries.retryIgnorePreviousHosts", $"does not exist in Istio {version}: the VirtualService API has it from 1.26");
                }
            }
            if (!version.AcceptsResetBeforeRequestRetryOn && retries.RetryOn is { } retryOn)
            {
                foreach (var condition in retryOn.Split(',').Where(c => c is "reset-before-request" or "http3-post-connect-failure"))
                {
                    Error(vs, $"{route.Field}.retries.retryOn", $"\"{condition}\" is not a valid retryOn policy in Istio {version}: its validation accepts it from 1.23");
                }
            }
        }

        // destinationhosts.go / destinationrules.go: every destination of an http, tls or tcp route names a host some
        // ServiceEntry exports to the VirtualService's namespace (service_lookup.go GetDestinationHost), and its subset
        // one some DestinationRule of the host defines.
        void CheckDestination(VirtualService vs, Destination destination, string field)
        {
            if (!IsRegistered(destination.Host))
            {
                Warn(vs, $"{field}.host", $"'{destination.Host}' is not registered by any ServiceEntry (and is not the egress gateway service): the proxy has no cluster for it, so Envoy answers 503 NC (cluster not found)");
            }
            else if (!HostName.Matches(environment.EgressGatewayService, destination.Host) && !IsVisibleFrom(destination.Host, vs)
                && entryHosts.Matching(destination.Host).FirstOrDefault() is { } hidden)
            {
                Warn(vs, $"{field}.host", $"'{destination.Host}' is registered by {hidden.Id}, whose exportTo [{string.Join(", ", hidden.ExportTo)}] does not reach namespace '{NamespaceOf(vs)}' (or the VirtualService's exportTo): a proxy there has no cluster for it, so Envoy answers 503 NC (cluster not found)");
            }
            // istioctl analyze (virtualservice/destinationrules.go) looks for the subset in every rule of the host,
            // a workloadSelector's too: one that some workload's rule defines is no finding.
            if (destination.Subset is { } subset && !selectorRules.Any(r => HostName.Matches(r.Host, destination.Host) && subsets.Find(r, subset) is not null))
            {
                var dr = RuleFor(destination.Host);
                if (dr is null)
                {
                    Warn(vs, $"{field}.subset", $"subset '{subset}' needs a DestinationRule for host '{destination.Host}', and there is none: Istio accepts it, and Envoy answers 503 NC (cluster not found)");
                }
                else if (subsets.Find(dr, subset) is null)
                {
                    Warn(vs, $"{field}.subset", $"subset '{subset}' is not defined in DestinationRule '{dr.Id.Name}' (it has: {string.Join(", ", dr.Subsets.Select(s => s.Name))}): Istio accepts it, and Envoy answers 503 NC (cluster not found)");
                }
            }
        }

        void CheckRoute(VirtualService vs, HttpRoute route, bool boundToMesh)
        {
            if (route.Route.Count == 0)
            {
                // A redirect or a direct response answers without a destination (the loader refuses a route with none of them).
                return;
            }

            for (var m = 0; m < route.Match.Count; m++)
            {
                foreach (var gatewayName in route.Match[m].Gateways)
                {
                    var bound = vs.Gateways.Count == 0 ? [MeshEnvironment.MeshGateway] : vs.Gateways;
                    if (!bound.Contains(gatewayName))
                    {
                        Error(vs, $"{route.Field}.match[{m}].gateways", $"'{gatewayName}' is not in spec.gateways, so this match never applies");
                    }
                }
            }

            if (route.Route.Count > 1)
            {
                // Istio ≥ 1.20 (validation.go validateWeights) refuses only an all-zero total; other totals are
                // Envoy's total weight (each destination gets weight / total).
                var sum = route.Route.Sum(d => (long)(d.Weight ?? 0));
                if (sum == 0)
                {
                    Error(vs, $"{route.Field}.route", "total destination weight = 0 (Istio refuses this route)");
                }
                else
                {
                    foreach (var d in route.Route.Where(d => d.Weight is null))
                    {
                        Warn(vs, $"{d.Field}.weight", "is missing, which is 0: on a route with several destinations Istio drops this destination, so it never gets a request (write weight: 0 if that is meant)");
                    }
                }
            }
            else if (route.Route[0].Weight is { } single and not 100 and not 0)
            {
                Warn(vs, $"{route.Route[0].Field}.weight", $"is {single} on the only destination; Istio sends it 100% of the requests anyway");
            }

            foreach (var d in route.Route)
            {
                CheckDestination(vs, d.Destination, $"{d.Field}.destination");
            }
            // destinationhosts.go / destinationrules.go getHTTPMirrorDestinations: a mirror's host and subset too.
            foreach (var mirror in route.Mirrors)
            {
                CheckDestination(vs, mirror.Destination, mirror.Field);
            }

            // The original demo's bug: one Host for every weighted destination. A route-level Host (rewrite.authority,
            // or headers.request.set host/:authority) beats every per-destination Host in Istio (route.go).
            var distinctDestinations = route.Route.Select(d => (d.Destination.Host, d.Destination.Subset)).Distinct().Count();
            if (distinctDestinations > 1 && RouteLevelHost(route) is { } routeHost)
            {
                var field = route.RewriteAuthority is { Length: > 0 } ? $"{route.Field}.rewrite.authority" : $"{route.Field}.headers.request.set.host";
                var overridden = route.Route.Where(d => SetHost(d.Headers) is { } h && !string.Equals(h, routeHost, StringComparison.OrdinalIgnoreCase)).ToList();
                Warn(vs, field, overridden.Count > 0
                    ? $"sets Host '{routeHost}' for the whole route, which beats the per-destination Host of {string.Join(", ", overridden.Select(d => d.Field))} in Istio (the route-level value wins): every version gets '{routeHost}' and reaches the same external app (Cloud Foundry routes by Host); drop the route-level Host"
                    : $"sets Host '{routeHost}' for every weighted destination, so all versions reach the same external app (Cloud Foundry routes by Host); set headers.request.set.host on each destination instead");
            }

            // Where a destination's effective Host is set: the route-level field when there is one (it wins), else the
            // destination's own; the text says which destination a route-level Host overrides.
            (string Field, string Note) HostSource(RouteDestination d) => RouteLevelHost(route) is null
                ? ($"{d.Field}.headers.request.set.host", "")
                : (route.RewriteAuthority is { Length: > 0 } ? $"{route.Field}.rewrite.authority" : $"{route.Field}.headers.request.set.host",
                    $" (the route-level Host, which beats {d.Field}'s own)");

            // Straight to an external host (no gateway): Envoy keeps the request's Host, which the external app
            // does not know unless the destination sets it.
            foreach (var d in route.Route.Where(d => IsExternal(d.Destination.Host)))
            {
                var hostHeader = HostHeader(d, route);
                if (hostHeader is not null && !HostName.Matches(d.Destination.Host, hostHeader))
                {
                    var (hostField, note) = HostSource(d);
                    Warn(vs, hostField,
                        $"is '{hostHeader}'{note} but the destination is '{d.Destination.Host}': that app receives another app's Host (Cloud Foundry answers 404 unknown_route or serves the wrong app)");
                }
                else if (hostHeader is null)
                {
                    // The Hosts this route can receive: its authority matches if every match has an exact one, else the VirtualService's hosts.
                    var received = route.Match.Count > 0 && route.Match.All(m => m.Authority is { Kind: StringMatchKind.Exact })
                        ? route.Match.Select(m => m.Authority!.Value).ToList()
                        : vs.Hosts.ToList();
                    var foreign = received.Where(h => !HostName.Matches(d.Destination.Host, h)).ToList();
                    if (foreign.Count > 0)
                    {
                        Warn(vs, $"{d.Field}.headers.request.set.host",
                            $"is missing: requests to '{d.Destination.Host}' keep the Host '{string.Join(", ", foreign)}', which the external app does not know (Cloud Foundry answers 404 unknown_route)");
                    }
                }
            }

            var toEgress = route.Route.Where(d => HostName.Matches(environment.EgressGatewayService, d.Destination.Host)).ToList();
            if (toEgress.Count > 0)
            {
                var hosts = toEgress.Select(d => HostHeader(d, route)).ToList();
                for (var i = 0; i < toEgress.Count; i++)
                {
                    var d = toEgress[i];
                    if (hosts[i] is null)
                    {
                        // The request keeps its Host, which the gateway routes only where one of its servers lists it
                        // (istio.io's egress-gateway task: the VirtualService's host is the external host itself).
                        var received = route.Match.Count > 0 && route.Match.All(m => m.Authority is { Kind: StringMatchKind.Exact })
                            ? route.Match.Select(m => m.Authority!.Value).ToList()
                            : vs.Hosts.ToList();
                        var unserved = received.Where(h => !egressServerHosts.AnyMatches(h)).ToList();
                        if (unserved.Count > 0)
                        {
                            Warn(vs, $"{d.Field}.headers.request.set.host",
                                $"is missing: the request goes through the egress gateway with the Host '{string.Join(", ", unserved)}', which no egress Gateway server lists; set the external Host it is for, otherwise the gateway has no route for it (404 NR) or the external app answers 404 unknown_route");
                        }
                        continue;
                    }
                    var rule = RuleFor(d.Destination.Host);
                    var sni = SubsetSni(rule, rule is null || d.Destination.Subset is not { } subset ? null : subsets.Find(rule, subset), d.Destination.Port ?? 80);
                    if (sni is not null && !string.Equals(sni, hosts[i], StringComparison.OrdinalIgnoreCase))
                    {
                        var (hostField, note) = HostSource(d);
                        Warn(vs, hostField,
                            $"is '{hosts[i]}'{note} but subset '{d.Destination.Subset}' of the egress gateway sends SNI '{sni}': the SNI picks the gateway's server (filter chain) for '{sni}' while the Host '{hosts[i]}' picks the route inside it — make them the same host");
                    }
                }
                if (toEgress.Count > 1 && hosts.Where(h => h is not null).Distinct(StringComparer.OrdinalIgnoreCase).Count() < hosts.Count(h => h is not null)
                    && toEgress.Select(d => d.Destination.Subset).Distinct().Count() > 1)
                {
                    Warn(vs, $"{route.Field}.route",
                        "sends the same Host to different weighted egress subsets; each version needs its own external host");
                }
            }

            if (boundToMesh && route.Fault is { } sidecarFault && (sidecarFault.Abort is not null || sidecarFault.Delay is not null) && (route.Retries is not null || route.Timeout is not null))
            {
                // The fault filter runs before the router: its abort is never a retriable answer; its delay is over
                // before the router starts the route timeout and any perTryTimeout, so neither cuts it or retries it.
                var missed = sidecarFault.Abort is not null ? "abort is never retried"
                    : (route.Timeout is not null, route.Retries is not null) switch
                    {
                        (true, true) => "delay is not cut by the timeout or a perTryTimeout, and never retried",
                        (true, false) => "delay is not cut by the timeout",
                        _ => "delay is not cut by a perTryTimeout, and never retried",
                    };
                Warn(vs, $"{route.Field}.fault",
                    $"is on the sidecar-side route, where Envoy's fault filter acts before the router: this route's retries and timeout never see the fault (its {missed}). Put the fault on the egress gateway's VirtualService");
            }
            if (route.Fault?.Abort is { Percentage: null })
            {
                Warn(vs, $"{route.Field}.fault.abort.percentage", "is missing: Istio writes no percentage and Envoy then aborts no request; set percentage.value (0–100)");
            }
            if (route.Fault?.Delay is { Percentage: null })
            {
                Warn(vs, $"{route.Field}.fault.delay.percentage", "is missing, and so is the deprecated percent: Istio writes percent 0 and Envoy then delays no request; set percentage.value (0–100)");
            }

            // Envoy's router.cc FilterUtility::finalTimeout drops a per-try timeout that is >= the route's.
            if (route.Retries is { PerTryTimeout: { } perTry } && route.Timeout is { } timeout && timeout > TimeSpan.Zero && perTry >= timeout)
            {
                Warn(vs, $"{route.Field}.retries.perTryTimeout", $"({Durations.Format(perTry)}) is not shorter than the route timeout ({Durations.Format(timeout)}), so Envoy ignores it: each try may use the whole route timeout and no retry can ever happen after a per-try timeout");
            }
        }

        // Every external HTTPS host a gateway route sends to needs exactly one TLS-origination rule.
        foreach (var vs in virtualServices.Where(v => v.Gateways.Any(g => g != MeshEnvironment.MeshGateway)))
        {
            foreach (var d in vs.Http.SelectMany(r => r.Route))
            {
                var host = d.Destination.Host;
                var port = d.Destination.Port ?? 80;
                var entry = entryHosts.Matching(host).FirstOrDefault();
                var servicePort = entry?.Ports.FirstOrDefault(p => p.Number == port);
                if (servicePort is { Protocol: "HTTPS" or "TLS" })
                {
                    var rule = RuleFor(host);
                    var tls = rule is null ? null : EffectiveTls(rule.TrafficPolicy, port);
                    if (tls is null || tls.Mode is "DISABLE" or "ISTIO_MUTUAL")
                    {
                        Warn(vs, $"{d.Field}.destination",
                            $"sends plain HTTP to {host}:{port}, an HTTPS port: add a DestinationRule for '{host}' with tls.mode SIMPLE (TLS origination) for port {port}");
                    }
                    else if (tls.Sni is { } sni && !string.Equals(sni, host, StringComparison.OrdinalIgnoreCase))
                    {
                        Warn(rule!, $"{tls.Field}.sni", $"is '{sni}' but the rule is for '{host}': the external server would see the wrong name");
                    }
                }
            }
        }

        // Gateway subsets whose SNI no egress gateway server accepts.
        foreach (var dr in destinationRules.Where(r => HostName.Matches(environment.EgressGatewayService, r.Host)))
        {
            for (var i = 0; i < dr.Subsets.Count; i++)
            {
                foreach (var (tls, field) in SubsetTls(dr.Subsets[i], $"spec.subsets[{i}].trafficPolicy"))
                {
                    if (tls.Sni is { } sni && egressGateways.Count > 0 && !egressServerHosts.AnyMatches(sni))
                    {
                        Warn(dr, $"{field}.sni", $"'{sni}' is not a host of any egress Gateway server, so the gateway cannot match this subset's connections");
                    }
                }
            }
        }

        return diagnostics;
    }
}
