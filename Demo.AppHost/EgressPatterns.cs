namespace Aspire.Hosting;

/// <summary>
/// One way to send the app's calls to the Cloud Foundry apps through the mesh: a folder of Istio YAML and what the
/// local hops need for it. <c>--Pattern &lt;name&gt;</c> picks one; the cluster applies the same folder (deploy/README.md).
/// </summary>
/// <param name="Name">The <c>--Pattern</c> value.</param>
/// <param name="Folder">The Istio YAML, relative to the repository: <c>deploy/istio</c> or <c>deploy/istio/patterns/&lt;name&gt;</c>.</param>
/// <param name="ProxyBaseAddress">What the proxy calls: the in-mesh HTTP name, or a CF host itself over HTTPS.</param>
/// <param name="RouterClientCertValidation">The CF router's <c>client_cert_validation</c> (gorouter): request (its default) or require.</param>
/// <param name="ClientCredential">The Secret a DestinationRule's <c>credentialName</c> names, issued locally by the dev CA; null when none.</param>
internal sealed record EgressPattern(string Name, string Folder, string ProxyBaseAddress,
    string RouterClientCertValidation = "request", string? ClientCredential = null)
{
    /// <summary>The setting that picks the pattern: <c>--Pattern passthrough-at-gateway</c>.</summary>
    public const string Setting = "Pattern";

    /// <summary>The mesh's name for the CF apps, which only the sidecar resolves (ServiceEntry hello-external).</summary>
    public const string InMeshAddress = "http://hello.external/";

    /// <summary>Every pattern, the default first. Each non-default folder is <c>deploy/istio/patterns/&lt;name&gt;</c>.</summary>
    public static readonly IReadOnlyList<EgressPattern> All =
    [
        new("tls-origination-at-gateway", "deploy/istio", InMeshAddress),
        new("passthrough-at-gateway", "deploy/istio/patterns/passthrough-at-gateway", "https://hello-istio-v1.apps.example.com/"),
        new("origination-at-sidecar", "deploy/istio/patterns/origination-at-sidecar", InMeshAddress),
        new("mutual-tls-origination", "deploy/istio/patterns/mutual-tls-origination", InMeshAddress,
            RouterClientCertValidation: "require", ClientCredential: "hello-cf-client"),
    ];

    /// <summary>The proxy does TLS itself (passthrough): it must trust the CF router's certificate.</summary>
    public bool ProxyOriginatesTls => ProxyBaseAddress.StartsWith("https://", StringComparison.Ordinal);

    /// <summary>The pattern <c>--Pattern</c> names; the default when unset.</summary>
    /// <exception cref="InvalidOperationException">The name is none of <see cref="All"/>'s.</exception>
    public static EgressPattern Selected(IDistributedApplicationBuilder builder)
    {
        var name = builder.Configuration[Setting];
        if (string.IsNullOrEmpty(name))
        {
            return All[0];
        }
        return All.FirstOrDefault(p => p.Name == name)
            ?? throw new InvalidOperationException(
                $"--{Setting} '{name}' is not a pattern; choose one of: {string.Join(", ", All.Select(p => p.Name))}.");
    }

    /// <summary>
    /// The Istio folder the local gateway reads: <c>IstioConfigDirectory</c> when set (relative to the repository),
    /// else the selected pattern's folder.
    /// </summary>
    public static string ConfigDirectory(IDistributedApplicationBuilder builder)
    {
        var repository = Path.GetFullPath(Path.Combine(builder.AppHostDirectory, ".."));
        return builder.Configuration["IstioConfigDirectory"] is { Length: > 0 } directory
            ? Path.GetFullPath(directory, repository)
            : Path.Combine(repository, Selected(builder).Folder);
    }
}
