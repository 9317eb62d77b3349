using System.Text;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace Demo.Deploy.Tests;

/// <summary>
/// Writes, from a published manifest, the folder <c>aspirate generate --non-interactive --skip-build --disable-secrets
/// --include-dashboard true --image-pull-policy IfNotPresent --namespace &lt;ns&gt;</c> writes, shaped as
/// shared/design/aspirate-output.md describes (Aspirate itself cannot be installed here). With the dashboard,
/// Aspirate (main, 2025-04: <c>FinalProcessor.HandleDashboard</c>, <c>Templates/dashboard.hbs</c>,
/// <c>ResourceExtensions.MapResourceToEnvVars</c>) also writes <c>dashboard.yaml</c> — Deployment and Service
/// <c>aspire-dashboard</c>, ports <c>dashboard-ui</c> 18888 and <c>otlp</c> 18889, anonymous access — lists it last in
/// the kustomization, and adds <c>OTEL_EXPORTER_OTLP_ENDPOINT=http://aspire-dashboard:18889</c> and
/// <c>OTEL_SERVICE_NAME=&lt;resource&gt;</c> to every resource's env unless the manifest already sets them.
/// </summary>
internal static partial class AspirateOutput
{
    public const int HttpPort = 8080;
    public const int HttpsPort = 8443;
    public const string Dashboard = "aspire-dashboard";
    public const int DashboardUiPort = 18888;
    public const int DashboardOtlpPort = 18889;
    public const string DashboardImage = "mcr.microsoft.com/dotnet/aspire-dashboard:9.0";
    private static readonly string[] ProjectTypes = ["project.v0", "project.v1"];

    [GeneratedRegex(@"^\{(?<resource>[a-z0-9-]+)\.bindings\.(?<binding>[a-z0-9-]+)\.(?<property>url|targetPort)\}$", RegexOptions.CultureInvariant)]
    private static partial Regex BindingReference();

    /// <summary>Writes the folder and returns the image name used for each resource.</summary>
    public static async Task<IReadOnlyDictionary<string, string>> WriteAsync(PublishedManifest manifest, string outputFolder, string @namespace, bool includeDashboard = true)
    {
        Directory.CreateDirectory(outputFolder);
        var images = new Dictionary<string, string>();
        var names = new List<string>();
        foreach (var (name, node) in manifest.Resources)
        {
            var type = (string?)node!["type"];
            if (!ProjectTypes.Contains(type))
            {
                throw new NotSupportedException($"resource '{name}' is a {type}; this generator (like the manifest the AppHost should publish) has projects only");
            }
            var image = await ImageAsync(manifest, name, (string)node["path"]!);
            images[name] = image;
            names.Add(name);

            var folder = Path.Combine(outputFolder, name);
            Directory.CreateDirectory(folder);
            await File.WriteAllTextAsync(Path.Combine(folder, "kustomization.yaml"), ResourceKustomization(name, Env(manifest, name, includeDashboard)));
            await File.WriteAllTextAsync(Path.Combine(folder, "deployment.yaml"), Deployment(name, image));
            await File.WriteAllTextAsync(Path.Combine(folder, "service.yaml"), Service(name));
        }

        await File.WriteAllTextAsync(Path.Combine(outputFolder, "namespace.yaml"), $"""
            apiVersion: v1
            kind: Namespace
            metadata:
              name: {@namespace}

            """);
        names.Add("namespace.yaml");
        if (includeDashboard)
        {
            await File.WriteAllTextAsync(Path.Combine(outputFolder, "dashboard.yaml"), DashboardManifest);
            names.Add("dashboard.yaml");
        }
        var resources = string.Concat(names.Select(n => $"  - {n}\n"));
        await File.WriteAllTextAsync(Path.Combine(outputFolder, "kustomization.yaml"),
            $"apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nnamespace: {@namespace}\nresources:\n{resources}generatorOptions:\n  disableNameSuffixHash: true\n");
        return images;
    }

    /// <summary>The manifest's env with binding references resolved as Aspirate does, plus the variables it adds.</summary>
    public static IReadOnlyList<KeyValuePair<string, string>> Env(PublishedManifest manifest, string name, bool includeDashboard = true)
    {
        var env = new List<KeyValuePair<string, string>>();
        foreach (var (key, value) in manifest.Env(name))
        {
            var resolved = Resolve(value ?? "", $"{name}.env.{key}");
            if (resolved.Length > 0 && key != "HTTP_PORTS")
            {
                env.Add(new(key, resolved));
            }
        }
        if (includeDashboard)
        {
            foreach (var (key, value) in new[] { ("OTEL_EXPORTER_OTLP_ENDPOINT", $"http://{Dashboard}:{DashboardOtlpPort}"), ("OTEL_SERVICE_NAME", name) })
            {
                if (!env.Any(kv => kv.Key == key))
                {
                    env.Add(new(key, value));
                }
            }
        }
        env.Add(new("ASPNETCORE_URLS", $"http://+:{HttpPort};"));
        env.Add(new("HTTP_PORTS", $"{HttpPort}"));
        return env;
    }

    private static string Resolve(string value, string where)
    {
        if (!value.Contains('{', StringComparison.Ordinal))
        {
            return value;
        }
        var match = BindingReference().Match(value);
        if (!match.Success)
        {
            throw new NotSupportedException($"{where}: '{value}' is an expression Aspirate would not turn into a plain value");
        }
        return (match.Groups["binding"].Value, match.Groups["property"].Value) switch
        {
            ("http", "url") => $"http://{match.Groups["resource"].Value}:{HttpPort}",
            ("http", "targetPort") => $"{HttpPort}",
            ("https", _) => "",
            _ => throw new NotSupportedException($"{where}: '{value}' references a binding Aspirate does not publish"),
        };
    }

    /// <summary>The image name Aspirate asks MSBuild for: ContainerRegistry/ContainerRepository:tag (tag latest).</summary>
    private static async Task<string> ImageAsync(PublishedManifest manifest, string name, string projectPath)
    {
        var project = Path.GetFullPath(Path.Combine(manifest.Directory, projectPath));
        var result = await Processes.RunAsync("dotnet",
            ["msbuild", project, "-getProperty:ContainerRegistry", "-getProperty:ContainerRepository", "-getProperty:ContainerImageTag"],
            Repository.Root, TimeSpan.FromMinutes(2));
        if (result.ExitCode != 0)
        {
            throw new InvalidOperationException($"dotnet msbuild -getProperty on {project} failed: {result}");
        }
        var properties = JsonNode.Parse(result.StandardOutput)!["Properties"]!;
        var registry = (string?)properties["ContainerRegistry"];
        var repository = (string?)properties["ContainerRepository"] is { Length: > 0 } r ? r : name;
        var tag = (string?)properties["ContainerImageTag"] is { Length: > 0 } t ? t : "latest";
        return string.IsNullOrEmpty(registry) ? $"{repository}:{tag}" : $"{registry}/{repository}:{tag}";
    }

    private static readonly string DashboardManifest = $"""
        apiVersion: apps/v1
        kind: Deployment
        metadata:
          name: {Dashboard}
          labels:
            app: {Dashboard}
        spec:
          replicas: 1
          selector:
            matchLabels:
              app: {Dashboard}
          template:
            metadata:
              labels:
                app: {Dashboard}
            spec:
              terminationGracePeriodSeconds: 30
              containers:
                - name: {Dashboard}
                  image: {DashboardImage}
                  resources:
                    requests:
                      cpu: "500m"
                      memory: "512Mi"
                    limits:
                      memory: "512Mi"
                  ports:
                    - name: dashboard-ui
                      containerPort: {DashboardUiPort}
                    - name: otlp
                      containerPort: {DashboardOtlpPort}
                  env:
                    - name: DOTNET_DASHBOARD_UNSECURED_ALLOW_ANONYMOUS
                      value: "true"
        ---
        apiVersion: v1
        kind: Service
        metadata:
          name: {Dashboard}
        spec:
          selector:
            app: {Dashboard}
          ports:
            - name: dashboard-ui
              protocol: TCP
              port: {DashboardUiPort}
              targetPort: {DashboardUiPort}
            - name: otlp
              protocol: TCP
              port: {DashboardOtlpPort}
              targetPort: {DashboardOtlpPort}
          type: ClusterIP

        """;

    private static string ResourceKustomization(string name, IEnumerable<KeyValuePair<string, string>> env)
    {
        var text = new StringBuilder($"""
            apiVersion: kustomize.config.k8s.io/v1beta1
            kind: Kustomization
            resources:
              - deployment.yaml
              - service.yaml
            configMapGenerator:
              - name: {name}-env
                literals:

            """);
        foreach (var (key, value) in env)
        {
            text.Append("      - \"").Append($"{key}={value}".Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal)).Append("\"\n");
        }
        return text.ToString();
    }

    private static string Deployment(string name, string image) => $"""
        apiVersion: apps/v1
        kind: Deployment
        metadata:
          name: {name}
          labels:
            app: {name}
        spec:
          replicas: 1
          selector:
            matchLabels:
              app: {name}
          strategy:
            type: Recreate
          template:
            metadata:
              labels:
                app: {name}
            spec:
              containers:
                - name: {name}
                  image: {image}
                  imagePullPolicy: IfNotPresent
                  ports:
                    - name: http
                      containerPort: {HttpPort}
                    - name: https
                      containerPort: {HttpsPort}
                  envFrom:
                    - configMapRef:
                        name: {name}-env

        """;

    private static string Service(string name) => $"""
        apiVersion: v1
        kind: Service
        metadata:
          name: {name}
        spec:
          type: ClusterIP
          selector:
            app: {name}
          ports:
            - name: http
              port: {HttpPort}
              targetPort: {HttpPort}
            - name: https
              port: {HttpsPort}
              targetPort: {HttpsPort}

        """;
}
