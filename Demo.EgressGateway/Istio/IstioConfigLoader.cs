using System.Text.RegularExpressions;
using YamlDotNet.Core;
using YamlDotNet.Core.Events;
using YamlDotNet.RepresentationModel;

namespace Demo.EgressGateway.Istio;

/// <summary>The resources read from one folder, plus everything found wrong with them.</summary>
public sealed record IstioConfigSet(IReadOnlyList<IstioResource> Resources, IReadOnlyList<ConfigDiagnostic> Diagnostics)
{
    public bool HasErrors => Diagnostics.Any(d => d.Severity == DiagnosticSeverity.Error);

    public IEnumerable<T> OfKind<T>() where T : IstioResource => Resources.OfType<T>();
}

/// <summary>
/// Reads Istio networking YAML (every <c>*.yaml</c> of a folder, like <c>kubectl apply -f</c>), strictly:
/// an unknown kind or field, a wrong type or a value out of range is a diagnostic naming file, resource and field.
/// </summary>
public static partial class IstioConfigLoader
{
    public const string ApiGroup = "networking.istio.io";
    public const string ScenariosFolder = "scenarios";
    private const long MaxFileBytes = 1024 * 1024;
    private const int MaxDepth = 32;
    private const string CurrentApiVersion = ApiGroup + "/v1";
    private static readonly string[] OlderApiVersions = [ApiGroup + "/v1beta1", ApiGroup + "/v1alpha3"];

    /// <summary>A Kubernetes API version of the group (v1, v1beta1, v2alpha1, ...): which ones Istio serves, the analyzer checks.</summary>
    [GeneratedRegex(@"^networking\.istio\.io/v[0-9]+((alpha|beta)[0-9]+)?$", RegexOptions.CultureInvariant)]
    private static partial Regex ApiVersionOfGroup();

    [GeneratedRegex("^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$", RegexOptions.CultureInvariant)]
    private static partial Regex ResourceName();

    /// <summary>
    /// Loads <paramref name="directory"/>/*.yaml, then each scenario file of <c>scenarios/</c> named in
    /// <paramref name="scenarios"/>, whose resources replace the resources of the same kind and name.
    /// </summary>
    public static IstioConfigSet LoadDirectory(string directory, IReadOnlyList<string>? scenarios = null)
    {
        var diagnostics = new List<ConfigDiagnostic>();
        if (!Directory.Exists(directory))
        {
            diagnostics.Add(new(DiagnosticSeverity.Error, directory, null, null, "the Istio configuration folder does not exist"));
            return new([], diagnostics);
        }

        var files = Directory.EnumerateFiles(directory)
            .Where(IsConfigFile)
            .Order(StringComparer.Ordinal)
            .ToList();
        if (files.Count == 0)
        {
            diagnostics.Add(new(DiagnosticSeverity.Error, directory, null, null, "holds no *.yaml file"));
        }

        var resources = new List<IstioResource>();
        foreach (var file in files)
        {
            var loaded = LoadFile(file);
            resources.AddRange(loaded.Resources);
            diagnostics.AddRange(loaded.Diagnostics);
        }

        foreach (var scenario in scenarios ?? [])
        {
            var name = scenario.EndsWith(".yaml", StringComparison.Ordinal) ? scenario : scenario + ".yaml";
            var path = Path.Combine(directory, ScenariosFolder, name);
            if (name.Contains('/') || name.Contains('\\') || !File.Exists(path))
            {
                var known = Directory.Exists(Path.Combine(directory, ScenariosFolder))
                    ? string.Join(", ", Directory.EnumerateFiles(Path.Combine(directory, ScenariosFolder), "*.yaml")
                        .Select(Path.GetFileNameWithoutExtension).Order(StringComparer.Ordinal))
                    : "none";
                diagnostics.Add(new(DiagnosticSeverity.Error, path, null, "scenario",
                    $"scenario '{scenario}' does not exist; known scenarios: {known}"));
                continue;
            }
            var loaded = LoadFile(path);
            diagnostics.AddRange(loaded.Diagnostics);
            foreach (var replacement in loaded.Resources)
            {
                resources.RemoveAll(r => r.Id.Kind == replacement.Id.Kind && r.Id.Name == replacement.Id.Name);
                resources.Add(replacement);
            }
        }

        return new(resources, diagnostics);
    }

    public static bool IsConfigFile(string path)
    {
        var name = Path.GetFileName(path);
        return (name.EndsWith(".yaml", StringComparison.Ordinal) || name.EndsWith(".yml", StringComparison.Ordinal))
            && !name.StartsWith('.')
            && !name.Equals("kustomization.yaml", StringComparison.Ordinal)
            && !name.Equals("kustomization.yml", StringComparison.Ordinal);
    }

    public static IstioConfigSet LoadFile(string path)
    {
        try
        {
            var info = new FileInfo(path);
            if (info.Length > MaxFileBytes)
            {
                return new([], [new(DiagnosticSeverity.Error, path, null, null,
                    $"is {info.Length} bytes; files over {MaxFileBytes} bytes are refused")]);
            }
            return Parse(path, File.ReadAllText(path));
        }
        catch (IOException ex)
        {
            return new([], [new(DiagnosticSeverity.Error, path, null, null, $"cannot be read: {ex.Message}")]);
        }
    }

    /// <summary>Parses YAML text (one or more documents) as if it were the file <paramref name="file"/>.</summary>
    public static IstioConfigSet Parse(string file, string yaml)
    {
        var context = new YamlReadContext(file);
        var resources = new List<IstioResource>();
        if (yaml.Length > MaxFileBytes)
        {
            context.Error("", $"is {yaml.Length} characters; files over {MaxFileBytes} are refused", null);
            return new(resources, context.Diagnostics);
        }

        if (!PassesStructureCheck(yaml, context))
        {
            return new(resources, context.Diagnostics);
        }

        var stream = new YamlStream();
        try
        {
            stream.Load(new StringReader(yaml));
        }
        catch (YamlException ex)
        {
            context.Diagnostics.Add(new(DiagnosticSeverity.Error, file, null, null, $"is not valid YAML: {ex.Message}", (int)ex.Start.Line));
            return new(resources, context.Diagnostics);
        }
        catch (InvalidOperationException ex)
        {
            // YamlDotNet throws this (not a YamlException) for some broken streams, e.g. "...\n%YAML 1.1\n".
            context.Diagnostics.Add(new(DiagnosticSeverity.Error, file, null, null, $"is not valid YAML: {ex.Message}", 1));
            return new(resources, context.Diagnostics);
        }

        foreach (var document in stream.Documents)
        {
            context.Resource = null;
            if (document.RootNode is YamlScalarNode { Value: null or "" or "~" or "null" })
            {
                continue;
            }
            if (document.RootNode is not YamlMappingNode root)
            {
                context.Error("", "a YAML document must be an object with apiVersion, kind, metadata and spec", document.RootNode);
                continue;
            }
            var resource = ParseResource(new YamlFields(root, "", context));
            if (resource is not null)
            {
                resources.Add(resource);
            }
        }

        return new(resources, context.Diagnostics);
    }

    // Aliases could multiply a small file into a huge tree, and deep nesting could exhaust the stack of the
    // recursive node builder: both are refused before the document is built.
    private static bool PassesStructureCheck(string yaml, YamlReadContext context)
    {
        var parser = new Parser(new StringReader(yaml));
        try
        {
            var depth = 0;
            while (parser.MoveNext())
            {
                switch (parser.Current)
                {
                    case MappingStart or SequenceStart:
                        if (++depth > MaxDepth)
                        {
                            context.Diagnostics.Add(new(DiagnosticSeverity.Error, context.File, null, null,
                                $"nests deeper than {MaxDepth} levels", (int)parser.Current.Start.Line));
                            return false;
                        }
                        break;
                    case MappingEnd or SequenceEnd:
                        depth--;
                        break;
                    case AnchorAlias alias:
                        context.Diagnostics.Add(new(DiagnosticSeverity.Error, context.File, null, null,
                            $"uses the YAML alias '*{alias.Value}'; anchors and aliases are not accepted", (int)alias.Start.Line));
                        return false;
                }
            }
            return true;
        }
        catch (YamlException ex)
        {
            context.Diagnostics.Add(new(DiagnosticSeverity.Error, context.File, null, null, $"is not valid YAML: {ex.Message}", (int)ex.Start.Line));
            return false;
        }
        catch (InvalidOperationException ex)
        {
            // YamlDotNet's parser throws this (not a YamlException) for some broken streams, e.g. "...\n%YAML 1.1\n".
            var line = parser.Current is { } current ? (int)Math.Max(1, current.End.Line) : 1;
            context.Diagnostics.Add(new(DiagnosticSeverity.Error, context.File, null, null, $"is not valid YAML: {ex.Message}", line));
            return false;
        }
    }

    private static IstioResource? ParseResource(YamlFields doc)
    {
        var context = doc.Context;
        var apiVersion = doc.String("apiVersion", required: true);
        var kind = doc.String("kind", required: true);
        var metadata = doc.Map("metadata", required: true);
        string? name = null;
        string? ns = null;
        if (metadata is not null)
        {
            name = metadata.String("name", required: true);
            ns = metadata.String("namespace");
            metadata.StringMap("labels");
            metadata.StringMap("annotations");
            metadata.Accept("generation", "resourceVersion", "uid", "creationTimestamp", "managedFields");
            metadata.RejectUnknown();
            if (name is not null && !ResourceName().IsMatch(name))
            {
                context.Error("metadata.name", $"'{name}' is not a valid Kubernetes name (lower case letters, digits, '-' and '.')", metadata.Node);
            }
        }
        context.Resource = kind is null ? null : $"{kind} '{name ?? "?"}'";

        // Any well-formed version of the group loads; one the declared Istio does not serve is the analyzer's error
        // (IstioAnalyzer knows the version), so that check can name what that version serves.
        if (apiVersion is not null && kind is not null && !ApiVersionOfGroup().IsMatch(apiVersion))
        {
            context.Error("apiVersion", apiVersion.StartsWith(ApiGroup + "/", StringComparison.Ordinal)
                ? $"'{apiVersion}' is not a version of {ApiGroup}; use {CurrentApiVersion}"
                : RefusedFields.ApiVersion.MessageFor(apiVersion), doc.NodeOf("apiVersion"));
            return null;
        }

        if (apiVersion is not null && OlderApiVersions.Contains(apiVersion))
        {
            context.Warning("apiVersion", $"'{apiVersion}' is an older API version; use {CurrentApiVersion}", doc.NodeOf("apiVersion"));
        }

        var spec = doc.Map("spec", required: true);
        doc.Accept("status");
        doc.RejectUnknown();
        if (kind is null || name is null || spec is null)
        {
            return null;
        }

        var id = new ResourceId(kind, name, ns, context.File) { ApiVersion = apiVersion ?? "" };
        IstioResource? resource = kind switch
        {
            "ServiceEntry" => ParseServiceEntry(id, spec),
            "Gateway" => ParseGateway(id, spec),
            "DestinationRule" => ParseDestinationRule(id, spec),
            "VirtualService" => ParseVirtualService(id, spec),
            _ => null,
        };
        if (resource is null && kind is not ("ServiceEntry" or "Gateway" or "DestinationRule" or "VirtualService"))
        {
            context.Error("kind", RefusedFields.Kind.MessageFor(kind), doc.NodeOf("kind"));
            return null;
        }
        spec.RejectUnknown();
        return resource;
    }

    private static ServiceEntry ParseServiceEntry(ResourceId id, YamlFields spec)
    {
        var hosts = spec.StringList("hosts", required: true);
        var ports = spec.MapList("ports").Select(ParsePort).ToList();
        spec.Accept(InertFields.ServiceEntryLocation);
        var location = spec.String("location");
        if (location is not null and not ("MESH_EXTERNAL" or "MESH_INTERNAL"))
        {
            spec.Context.Error(spec.Join("location"), $"must be MESH_EXTERNAL or MESH_INTERNAL, got '{location}'", spec.Node);
        }
        var resolution = spec.String("resolution");
        if (resolution is not null and not ("NONE" or "STATIC" or "DNS" or "DNS_ROUND_ROBIN"))
        {
            spec.Context.Error(spec.Join("resolution"), $"must be NONE, STATIC, DNS or DNS_ROUND_ROBIN, got '{resolution}'", spec.Node);
        }
        var exportTo = spec.StringList("exportTo");
        var endpoints = new List<WorkloadEntry>();
        foreach (var endpoint in spec.MapList("endpoints"))
        {
            var address = endpoint.String("address", required: true) ?? "";
            var endpointPorts = endpoint.StringMap("ports").Select(kv => (kv.Key, Port: int.TryParse(kv.Value, out var n) && n is > 0 and < 65536 ? n : 0)).ToList();
            foreach (var (name, number) in endpointPorts.Where(p => p.Port == 0))
            {
                endpoint.Context.Error(endpoint.Join("ports"), $"port '{name}' must be a number between 1 and 65535", endpoint.Node);
            }
            var labels = endpoint.StringMap("labels").ToDictionary(kv => kv.Key, kv => kv.Value, StringComparer.Ordinal);
            endpoint.Refuse(RefusedFields.EndpointWeight);
            endpoint.Refuse(RefusedFields.EndpointNetwork);
            endpoint.Refuse(RefusedFields.EndpointLocality);
            endpoint.Refuse(RefusedFields.EndpointServiceAccount);
            endpoint.RejectUnknown();
            endpoints.Add(new WorkloadEntry(address, endpointPorts.Where(p => p.Port > 0).ToDictionary(p => p.Key, p => p.Port, StringComparer.Ordinal), labels));
        }
        spec.Refuse(RefusedFields.ServiceEntryWorkloadSelector);
        spec.Accept(InertFields.ServiceEntryAddresses);
        var subjectAltNames = spec.StringList("subjectAltNames");
        return new ServiceEntry(id, hosts, ports, exportTo, resolution ?? "NONE", endpoints)
        {
            SubjectAltNames = subjectAltNames,
            Location = location ?? "MESH_EXTERNAL",
        };
    }

    private static ServicePort ParsePort(YamlFields port)
    {
        var number = port.Int("number", 1, 65535, required: true) ?? 0;
        var name = port.String("name");
        var protocol = port.String("protocol");
        if (protocol is not null and not ("HTTP" or "HTTPS" or "GRPC" or "HTTP2" or "MONGO" or "TCP" or "TLS"))
        {
            port.Context.Error(port.Join("protocol"), $"must be one of HTTP, HTTPS, GRPC, HTTP2, MONGO, TCP, TLS, got '{protocol}'", port.Node);
        }
        var targetPort = port.Int("targetPort", 1, 65535);
        port.RejectUnknown();
        return new ServicePort(number, name, protocol) { TargetPort = targetPort };
    }

    private static Gateway ParseGateway(ResourceId id, YamlFields spec)
    {
        var selector = spec.StringMap("selector").ToDictionary(kv => kv.Key, kv => kv.Value, StringComparer.Ordinal);
        var servers = new List<GatewayServer>();
        foreach (var server in spec.MapList("servers", required: true))
        {
            var port = server.Map("port", required: true) is { } p ? ParsePort(p) : new ServicePort(0, null, null);
            var hosts = server.StringList("hosts", required: true);
            string? tlsMode = null;
            if (server.Map("tls") is { } tls)
            {
                tlsMode = tls.String("mode");
                if (tlsMode is not null and not ("PASSTHROUGH" or "SIMPLE" or "MUTUAL" or "AUTO_PASSTHROUGH" or "ISTIO_MUTUAL" or "OPTIONAL_MUTUAL"))
                {
                    tls.Context.Error(tls.Join("mode"), $"must be PASSTHROUGH, SIMPLE, MUTUAL, AUTO_PASSTHROUGH, ISTIO_MUTUAL or OPTIONAL_MUTUAL, got '{tlsMode}'", tls.Node);
                }
                if (tlsMode is "PASSTHROUGH" or "AUTO_PASSTHROUGH")
                {
                    tls.RefuseValue(RefusedFields.GatewayPassthrough, tlsMode);
                }
                if (tls.Bool("httpsRedirect") is true)
                {
                    tls.RefuseValue(RefusedFields.HttpsRedirect, "true");
                }
                foreach (var credential in InertFields.ServerCredentials)
                {
                    tls.Accept(credential);
                }
                // Handshake parameters and client-certificate checks would act on that wire. listener.go
                // BuildListenerTLSContext writes TLS versions and cipher suites (applyServerTLSSettings) only for
                // SIMPLE/MUTUAL/OPTIONAL_MUTUAL servers, and the SPKI/hash pins only in their validation context; for
                // ISTIO_MUTUAL it writes none of them, so there they change nothing and are accepted.
                RefusedField[] handshake = [RefusedFields.ServerMinProtocolVersion, RefusedFields.ServerMaxProtocolVersion,
                    RefusedFields.ServerCipherSuites, RefusedFields.ServerVerifyCertificateSpki, RefusedFields.ServerVerifyCertificateHash];
                foreach (var field in handshake)
                {
                    if (tlsMode == "ISTIO_MUTUAL")
                    {
                        tls.Accept(InertFields.IstioMutualHandshake.Single(f => f.Key == field.Key));
                    }
                    else
                    {
                        tls.Refuse(field);
                    }
                }
                // For every mode (ISTIO_MUTUAL included) istiod puts these in the listener's validation context.
                tls.Refuse(RefusedFields.ServerSubjectAltNames);
                tls.Refuse(RefusedFields.ServerCaCrl);
                tls.RejectUnknown();
            }
            server.Accept(InertFields.ServerBind);
            server.Accept(InertFields.ServerDefaultEndpoint);
            server.Accept(InertFields.ServerName);
            server.RejectUnknown();
            servers.Add(new GatewayServer(port, hosts, tlsMode));
        }
        return new Gateway(id, selector, servers);
    }

    private static DestinationRule ParseDestinationRule(ResourceId id, YamlFields spec)
    {
        var host = spec.String("host", required: true) ?? "";
        var policy = spec.Map("trafficPolicy") is { } tp ? ParseTrafficPolicy(tp, allowPortLevel: true) : null;
        var subsets = new List<Subset>();
        foreach (var subset in spec.MapList("subsets"))
        {
            var name = subset.String("name", required: true) ?? "";
            var labels = subset.StringMap("labels").ToDictionary(kv => kv.Key, kv => kv.Value, StringComparer.Ordinal);
            var subsetPolicy = subset.Map("trafficPolicy") is { } stp ? ParseTrafficPolicy(stp, allowPortLevel: true) : null;
            subset.RejectUnknown();
            subsets.Add(new Subset(name, subsetPolicy) { Labels = labels });
        }
        var exportTo = spec.StringList("exportTo");
        spec.Refuse(RefusedFields.DestinationRuleWorkloadSelector);
        return new DestinationRule(id, host, policy, subsets) { ExportTo = exportTo };
    }

    private static TrafficPolicy ParseTrafficPolicy(YamlFields policy, bool allowPortLevel)
    {
        var connectionPool = policy.Map("connectionPool") is { } cp ? ParseConnectionPool(cp) : null;
        var outlier = policy.Map("outlierDetection") is { } od ? ParseOutlierDetection(od) : null;
        var tls = policy.Map("tls") is { } t ? ParseClientTls(t) : null;
        var portLevel = new List<PortTrafficPolicy>();
        if (allowPortLevel)
        {
            foreach (var setting in policy.MapList("portLevelSettings"))
            {
                var port = setting.Map("port", required: true) is { } p ? p.Int("number", 1, 65535, required: true) : null;
                var portLoadBalancer = ParseLoadBalancer(setting);
                var nested = new PortTrafficPolicy(
                    port ?? 0,
                    setting.Map("connectionPool") is { } pcp ? ParseConnectionPool(pcp) : null,
                    setting.Map("outlierDetection") is { } pod ? ParseOutlierDetection(pod) : null,
                    setting.Map("tls") is { } pt ? ParseClientTls(pt) : null)
                {
                    LoadBalancer = portLoadBalancer,
                };
                setting.RejectUnknown();
                portLevel.Add(nested);
            }
        }
        var loadBalancer = ParseLoadBalancer(policy);
        policy.Refuse(RefusedFields.Tunnel);
        policy.Refuse(RefusedFields.ProxyProtocol);
        policy.Refuse(RefusedFields.RetryBudget);
        policy.RejectUnknown();
        return new TrafficPolicy(connectionPool, outlier, tls, portLevel) { LoadBalancer = loadBalancer };
    }

    private static ConnectionPool ParseConnectionPool(YamlFields pool)
    {
        int? maxConnections = null;
        TimeSpan? connectTimeout = null;
        TimeSpan? maxConnectionDuration = null;
        TimeSpan? idleTimeout = null;
        int? maxRetries = null;
        int? maxRequestsPerConnection = null;
        var useClientProtocol = false;
        if (pool.Map("tcp") is { } tcp)
        {
            maxConnections = tcp.Int("maxConnections", 0, int.MaxValue);
            connectTimeout = tcp.Duration("connectTimeout", TimeSpan.FromMilliseconds(1));
            maxConnectionDuration = tcp.Duration("maxConnectionDuration", TimeSpan.FromMilliseconds(1));
            tcp.Refuse(RefusedFields.TcpIdleTimeout);
            tcp.Accept(InertFields.TcpKeepalive);
            tcp.RejectUnknown();
        }
        int? pending = null;
        int? maxRequests = null;
        if (pool.Map("http") is { } http)
        {
            pending = http.Int("http1MaxPendingRequests", 0, int.MaxValue);
            maxRequests = http.Int("http2MaxRequests", 0, int.MaxValue);
            maxRequestsPerConnection = http.Int("maxRequestsPerConnection", 0, int.MaxValue);
            if (maxRequestsPerConnection is > 1)
            {
                http.RefuseValue(RefusedFields.MaxRequestsPerConnection, maxRequestsPerConnection.Value.ToString(System.Globalization.CultureInfo.InvariantCulture));
            }
            maxRetries = http.Int("maxRetries", 0, int.MaxValue);
            // cluster_traffic_policy.go applyConnectionPool writes these into the HTTP/2 protocol options of an
            // HTTP/2 cluster (a port declared HTTP2 or GRPC), whose streams the local gateway does not count.
            http.Refuse(RefusedFields.MaxConcurrentStreams);
            http.Refuse(RefusedFields.Http2KeepAlive);
            idleTimeout = http.Duration("idleTimeout", TimeSpan.FromMilliseconds(1));
            if (http.String("h2UpgradePolicy") is "UPGRADE")
            {
                http.RefuseValue(RefusedFields.H2Upgrade, "UPGRADE");
            }
            useClientProtocol = http.Bool("useClientProtocol") ?? false;
            http.RejectUnknown();
        }
        pool.RejectUnknown();
        return new ConnectionPool(maxConnections, connectTimeout, pending, maxRequests)
        {
            MaxRetries = maxRetries,
            IdleTimeout = idleTimeout,
            MaxConnectionDuration = maxConnectionDuration,
            UseClientProtocol = useClientProtocol,
            MaxRequestsPerConnection = maxRequestsPerConnection,
        };
    }

    private static OutlierDetection ParseOutlierDetection(YamlFields od)
    {
        var result = new OutlierDetection(
            od.Int("consecutive5xxErrors", 0, int.MaxValue),
            od.Int("consecutiveGatewayErrors", 0, int.MaxValue),
            od.Duration("interval", TimeSpan.FromMilliseconds(1)),
            od.Duration("baseEjectionTime", TimeSpan.FromMilliseconds(1)),
            od.Int("maxEjectionPercent", 0, 100))
        {
            ConsecutiveErrors = od.Int("consecutiveErrors", 0, int.MaxValue),
            MinHealthPercent = od.Int("minHealthPercent", 0, 100),
            ConsecutiveLocalOriginFailures = od.Int("consecutiveLocalOriginFailures", 0, int.MaxValue),
            SplitExternalLocalOriginErrors = od.Bool("splitExternalLocalOriginErrors") ?? false,
        };
        if (result.ConsecutiveErrors is > 0)
        {
            od.Context.Warning(od.Join("consecutiveErrors"), "is deprecated and Istio no longer translates it (it has no effect); use consecutiveGatewayErrors or consecutive5xxErrors", od.Node);
        }
        od.RejectUnknown();
        return result;
    }

    private static ClientTls ParseClientTls(YamlFields tls)
    {
        var mode = tls.String("mode") ?? "DISABLE";
        if (mode is not ("DISABLE" or "SIMPLE" or "MUTUAL" or "ISTIO_MUTUAL"))
        {
            tls.Context.Error(tls.Join("mode"), $"must be DISABLE, SIMPLE, MUTUAL or ISTIO_MUTUAL, got '{mode}'", tls.Node);
        }
        var result = new ClientTls(
            mode,
            tls.String("sni"),
            tls.StringList("subjectAltNames"),
            tls.Bool("insecureSkipVerify") ?? false,
            tls.String("caCertificates"),
            tls.String("credentialName"),
            tls.Path);
        if (mode == "MUTUAL")
        {
            tls.RefuseValue(RefusedFields.MutualTls, mode);
        }
        tls.Refuse(RefusedFields.ClientCertificate);
        tls.Refuse(RefusedFields.PrivateKey);
        tls.Refuse(RefusedFields.CaCrl);
        tls.RejectUnknown();
        return result;
    }

    // loadBalancer.simple: the Envoy lb_policy istiod writes (cluster_traffic_policy.go applyLoadBalancer), which the
    // local load balancer executes over the cluster's endpoints; null when the policy has no loadBalancer. PASSTHROUGH
    // (an ORIGINAL_DST cluster), hashing and locality settings are refused.
    private static string? ParseLoadBalancer(YamlFields policy)
    {
        if (policy.Map("loadBalancer") is not { } loadBalancer)
        {
            return null;
        }
        var simple = loadBalancer.String("simple");
        if (simple == "PASSTHROUGH")
        {
            loadBalancer.RefuseValue(RefusedFields.LoadBalancerPassthrough, simple);
        }
        else if (simple is not null and not ("UNSPECIFIED" or "LEAST_CONN" or "LEAST_REQUEST" or "ROUND_ROBIN" or "RANDOM"))
        {
            loadBalancer.Context.Error(loadBalancer.Join("simple"), $"must be UNSPECIFIED, LEAST_CONN, LEAST_REQUEST, ROUND_ROBIN, RANDOM or PASSTHROUGH, got '{simple}'", loadBalancer.Node);
        }
        loadBalancer.Refuse(RefusedFields.ConsistentHash);
        loadBalancer.Refuse(RefusedFields.LocalityLbSetting);
        loadBalancer.Refuse(RefusedFields.WarmupDurationSecs);
        loadBalancer.Refuse(RefusedFields.Warmup);
        loadBalancer.RejectUnknown();
        return simple ?? "UNSPECIFIED";
    }

    private static VirtualService ParseVirtualService(ResourceId id, YamlFields spec)
    {
        var hosts = spec.StringList("hosts", required: true);
        var gateways = spec.StringList("gateways");
        var routes = spec.MapList("http", required: true).Select((r, i) => ParseHttpRoute(r, i)).ToList();
        spec.Refuse(RefusedFields.TcpRoutes);
        spec.Refuse(RefusedFields.TlsRoutes);
        var exportTo = spec.StringList("exportTo");
        return new VirtualService(id, hosts, gateways, routes) { ExportTo = exportTo };
    }

    private static HttpRoute ParseHttpRoute(YamlFields route, int index)
    {
        var name = route.String("name");
        var matches = route.MapList("match").Select(ParseMatch).ToList();
        var destinations = route.MapList("route").Select(ParseRouteDestination).ToList();
        string? rewriteAuthority = null;
        string? rewriteUri = null;
        if (route.Map("rewrite") is { } rewrite)
        {
            rewriteAuthority = rewrite.String("authority");
            rewriteUri = rewrite.String("uri");
            rewrite.Refuse(RefusedFields.UriRegexRewrite);
            rewrite.RejectUnknown();
        }
        var timeout = route.Duration("timeout", TimeSpan.FromMilliseconds(1));
        HttpRetry? retries = null;
        if (route.Map("retries") is { } r)
        {
            var attempts = r.Int("attempts", 0, int.MaxValue) ?? 0;
            retries = new HttpRetry(
                attempts,
                r.Duration("perTryTimeout", TimeSpan.FromMilliseconds(1)),
                r.String("retryOn"),
                r.Duration("backoff", TimeSpan.FromMilliseconds(1)))
            {
                RetryIgnorePreviousHosts = r.Bool("retryIgnorePreviousHosts"),
            };
            // One locality here: retrying in other localities changes nothing.
            var remoteLocalities = r.Bool("retryRemoteLocalities");
            r.RejectUnknown();
            // pkg/config/validation/agent ValidateHTTPRetry.
            if (attempts == 0 && (retries.PerTryTimeout is not null || !string.IsNullOrEmpty(retries.RetryOn) || remoteLocalities is not null))
            {
                r.Context.Error(r.Join("attempts"), "http retry policy configured when attempts are set to 0 (disabled): Istio refuses it; drop the other fields or set attempts", r.Node);
            }
            if (retries.RetryOn is { Length: > 0 } retryOn)
            {
                // Split on ',' exactly as istiod does: a space is part of the condition, and only codes Go's
                // http.StatusText knows are codes.
                foreach (var condition in retryOn.Split(','))
                {
                    if (!RetryConditions.IsKnown(condition))
                    {
                        r.Context.Error(r.Join("retryOn"), $"\"{condition}\" is not a valid retryOn policy (Envoy conditions: {string.Join(", ", RetryConditions.Known)}; or an HTTP status code)", r.Node);
                    }
                    else if (condition == "envoy-ratelimited")
                    {
                        r.RefuseValue(RefusedFields.RetryOnRateLimited, condition);
                    }
                }
            }
        }
        HttpFault? fault = null;
        if (route.Map("fault") is { } f)
        {
            FaultDelay? delay = null;
            if (f.Map("delay") is { } d)
            {
                var fixedDelay = d.Duration("fixedDelay", TimeSpan.FromMilliseconds(1));
                var percentage = ParsePercentage(d, allowPercent: true, out var integerPercent);
                d.Refuse(RefusedFields.ExponentialDelay);
                d.RejectUnknown();
                if (fixedDelay is null)
                {
                    d.Context.Error(d.Join("fixedDelay"), "is required", d.Node);
                }
                else
                {
                    delay = new FaultDelay(fixedDelay.Value, percentage) { IntegerPercent = integerPercent };
                }
            }
            FaultAbort? abort = null;
            if (f.Map("abort") is { } a)
            {
                var status = a.Int("httpStatus", 200, 599);
                var percentage = ParsePercentage(a, allowPercent: false, out _);
                a.Refuse(RefusedFields.GrpcStatus);
                a.Refuse(RefusedFields.Http2Error);
                a.RejectUnknown();
                if (status is null)
                {
                    a.Context.Error(a.Join("httpStatus"), "is required (an HTTP status between 200 and 599)", a.Node);
                }
                else
                {
                    abort = new FaultAbort(status.Value, percentage);
                }
            }
            f.RejectUnknown();
            fault = new HttpFault(delay, abort);
        }
        var headers = route.Map("headers") is { } h ? ParseHeaders(h) : null;
        // virtualservice.go validateAuthorityRewrite: one route sets its Host in one place only.
        var authorities = new[] { rewriteAuthority }
            .Concat(headers?.Request?.Set.Where(kv => IsAuthorityHeader(kv.Key)).Select(kv => kv.Value) ?? [])
            .Concat(headers?.Request?.Add.Where(kv => IsAuthorityHeader(kv.Key)).Select(kv => kv.Value) ?? [])
            .Where(v => !string.IsNullOrEmpty(v))
            .ToList();
        if (authorities.Count > 1)
        {
            route.Context.Error(route.Join("headers.request"), $"authority header cannot be set multiple times: have \"{authorities[0]}\", attempting to set \"{authorities[1]}\" (rewrite.authority and a Host/:authority header are one setting; Istio refuses both)", route.Node);
        }
        route.Refuse(RefusedFields.Redirect);
        route.Refuse(RefusedFields.DirectResponse);
        route.Refuse(RefusedFields.Delegate);
        route.Refuse(RefusedFields.Mirror);
        route.Refuse(RefusedFields.Mirrors);
        route.Refuse(RefusedFields.MirrorPercentage);
        route.Refuse(RefusedFields.MirrorPercent);
        route.Refuse(RefusedFields.MirrorPercentSnake);
        route.Refuse(RefusedFields.CorsPolicy);
        route.RejectUnknown();
        return new HttpRoute(index, name, matches, destinations, rewriteAuthority, rewriteUri, timeout, retries, fault, headers);
    }

    private static bool IsAuthorityHeader(string name) =>
        name.Equals("host", StringComparison.OrdinalIgnoreCase) || name.Equals(":authority", StringComparison.OrdinalIgnoreCase);

    // Envoy's FractionalPercent as Istio writes it: percentage.value (0-100); the deprecated integer 'percent' too.
    // Istio (route.go TranslateFault): percentage.value wins; a delay without it uses the deprecated integer percent;
    // an abort without percentage has none, which Envoy reads as 0%.
    private static double? ParsePercentage(YamlFields fault, bool allowPercent, out bool integerPercent)
    {
        integerPercent = false;
        var percent = allowPercent ? fault.Int("percent", 0, 100) : null;
        if (!allowPercent)
        {
            fault.Refuse(RefusedFields.AbortPercent);
        }
        if (fault.Map("percentage") is { } percentage)
        {
            var value = percentage.Double("value", 0, 100);
            percentage.RejectUnknown();
            return value ?? 0;
        }
        integerPercent = percent is not null;
        return percent;
    }

    private static HttpMatch ParseMatch(YamlFields match)
    {
        var result = new HttpMatch(
            match.Map("uri") is { } uri ? ParseStringMatch(uri) : null,
            match.Map("scheme") is { } scheme ? ParseStringMatch(scheme) : null,
            match.Map("method") is { } method ? ParseStringMatch(method) : null,
            match.Map("authority") is { } authority ? ParseStringMatch(authority) : null,
            ParseStringMatchMap(match, "headers"),
            ParseStringMatchMap(match, "withoutHeaders"),
            ParseStringMatchMap(match, "queryParams"),
            match.Int("port", 1, 65535),
            match.StringList("gateways"),
            match.Bool("ignoreUriCase") ?? false)
        {
            Name = match.String("name"),
            SourceLabels = match.StringMap("sourceLabels").ToDictionary(kv => kv.Key, kv => kv.Value, StringComparer.Ordinal),
            SourceNamespace = match.String("sourceNamespace"),
        };
        match.Accept(InertFields.StatPrefix);
        match.RejectUnknown();
        return result;
    }

    private static List<KeyValuePair<string, StringMatch>> ParseStringMatchMap(YamlFields match, string key)
    {
        var result = new List<KeyValuePair<string, StringMatch>>();
        foreach (var (name, value) in match.ObjectMap(key))
        {
            if (name.StartsWith("@request.auth.claims", StringComparison.Ordinal))
            {
                match.Context.Error(match.Join($"{key}.{name}"), RefusedFields.JwtClaimMatch.Message, match.Node);
                continue;
            }
            if (ParseStringMatch(value, allowPresence: true) is { } parsed)
            {
                result.Add(new(name.ToLowerInvariant(), parsed));
            }
        }
        return result;
    }

    private static StringMatch? ParseStringMatch(YamlFields fields, bool allowPresence = false)
    {
        var exact = fields.String("exact");
        var prefix = fields.String("prefix");
        var regex = fields.String("regex");
        fields.RejectUnknown();
        var given = new[] { exact, prefix, regex }.Count(v => v is not null);
        if (given == 0 && allowPresence)
        {
            // route.go canBeConvertedToPresentMatch: a header or query match without a value is a presence match.
            return new StringMatch(StringMatchKind.Regex, "*", null);
        }
        if (given != 1)
        {
            fields.Context.Error(fields.Path, "must have exactly one of exact, prefix or regex", fields.Node);
            return null;
        }
        if (exact is not null)
        {
            return new StringMatch(StringMatchKind.Exact, exact, null);
        }
        if (prefix is not null)
        {
            return new StringMatch(StringMatchKind.Prefix, prefix, null);
        }
        if (allowPresence && regex == "*")
        {
            // Istio turns regex "*" on a header or query parameter into Envoy's present_match (istio/istio#20629).
            return new StringMatch(StringMatchKind.Regex, regex, null);
        }
        try
        {
            // Envoy's RE2 matches the whole value.
            var compiled = new Regex($"^(?:{regex})$", RegexOptions.CultureInvariant | RegexOptions.NonBacktracking, TimeSpan.FromMilliseconds(100));
            return new StringMatch(StringMatchKind.Regex, regex!, compiled);
        }
        catch (Exception ex) when (ex is ArgumentException or NotSupportedException)
        {
            fields.Context.Error(fields.Join("regex"), $"'{regex}' is not a valid regular expression: {ex.Message}", fields.Node);
            return null;
        }
    }

    private static RouteDestination ParseRouteDestination(YamlFields routeDestination)
    {
        var destination = new Destination("", null, null);
        if (routeDestination.Map("destination", required: true) is { } d)
        {
            var host = d.String("host", required: true) ?? "";
            var subset = d.String("subset");
            int? port = null;
            if (d.Map("port") is { } p)
            {
                port = p.Int("number", 1, 65535, required: true);
                p.RejectUnknown();
            }
            d.RejectUnknown();
            destination = new Destination(host, subset, port);
        }
        // Istio refuses only a negative weight (pkg/config/validation/validation.go validateWeight); the CRD caps it at
        // int32 (format: int32, no maximum). Above 100 is a share of the destinations' sum, as Envoy's weighted_clusters is.
        var weight = routeDestination.Int("weight", 0, int.MaxValue);
        var headers = routeDestination.Map("headers") is { } h ? ParseHeaders(h) : null;
        routeDestination.RejectUnknown();
        return new RouteDestination(destination, weight, headers, routeDestination.Path);
    }

    private static Headers ParseHeaders(YamlFields headers)
    {
        var result = new Headers(
            headers.Map("request") is { } request ? ParseHeaderOperations(request) : null,
            headers.Map("response") is { } response ? ParseHeaderOperations(response) : null);
        headers.RejectUnknown();
        return result;
    }

    private static HeaderOperations ParseHeaderOperations(YamlFields operations)
    {
        var result = new HeaderOperations(
            operations.StringMap("set"),
            operations.StringMap("add"),
            operations.StringList("remove"));
        operations.RejectUnknown();
        return result;
    }
}
