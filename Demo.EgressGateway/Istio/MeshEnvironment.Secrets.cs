namespace Demo.EgressGateway.Istio;

// MeshEnvironment, continued: the Kubernetes Secrets a credentialName names, what stands for them locally, and which
// proxy istiod lets read them (pilot/pkg/model/credentials/resource.go ParseResourceName, pilot/pkg/xds/sds.go
// filterAuthorizedResources, pilot/pkg/credentials/kube/secrets.go).
public sealed partial record MeshEnvironment
{
    /// <summary>
    /// Kubernetes Secret → what stands for that Secret locally (EgressGateway:Credentials): a PEM file, the Secret's CA
    /// bundle alone, or a folder holding the Secret's keys as files, as a Secret volume mounts them — <c>tls.crt</c>,
    /// <c>tls.key</c>, <c>ca.crt</c> (kubernetes.io/tls) or <c>cert</c>, <c>key</c>, <c>cacert</c> (generic). A key
    /// <c>&lt;name&gt;</c> is the Secret of the egress gateway's namespace, <c>&lt;namespace&gt;/&lt;name&gt;</c> the
    /// Secret of that namespace (e.g. the calling workload's, for its sidecar). Null: not known here (the analyze
    /// command), so credentialName is not checked.
    /// </summary>
    public IReadOnlyDictionary<string, string>? Credentials { get; init; }

    /// <summary>
    /// Whether the calling workload's service account may list the Secrets of its namespace — a Role and RoleBinding
    /// such as Istio's integration test <c>authorizeSidecar</c> creates. istiod checks it with a SubjectAccessReview
    /// (credentials/kube/secrets.go <c>Authorize</c>: verb list, resource secrets) before it sends the sidecar a
    /// credentialName's certificate (sds.go <c>filterAuthorizedResources</c>). Kubernetes grants nothing by default:
    /// false. The egress gateway's service account always may (Istio's gateway chart binds it a Role for its
    /// namespace's Secrets).
    /// </summary>
    public bool WorkloadCanListSecrets { get; init; }

    /// <summary>The SDS resource name istiod gives a DestinationRule credentialName's certificate: <c>kubernetes://&lt;name&gt;</c>.</summary>
    public static string CredentialResource(string credentialName) => $"kubernetes://{credentialName}";

    /// <summary>The SDS resource name istiod gives the CA of a DestinationRule credentialName: <c>kubernetes://&lt;name&gt;-cacert</c>.</summary>
    public static string CaCredentialResource(string credentialName) => $"kubernetes://{credentialName}{CaCredentialSuffix}";

    /// <summary>
    /// Whether istiod's SDS gives a proxy of <paramref name="proxyNamespace"/> the Secret a credentialName's resource
    /// names (sds.go <c>filterAuthorizedResources</c>, KubernetesSecretType): only a Secret of the proxy's own namespace
    /// (<c>&lt;name&gt;</c>, or <c>&lt;namespace&gt;/&lt;name&gt;</c> naming it), and then a CA-only one
    /// (<c>…-cacert</c>, <paramref name="caOnly"/>) always, any other only when the proxy is authorized to list
    /// Secrets (<paramref name="isGateway"/>, else <see cref="WorkloadCanListSecrets"/>).
    /// </summary>
    public bool MayRead(string credentialName, bool caOnly, string proxyNamespace, bool isGateway) =>
        ParseSecret(credentialName, proxyNamespace).Namespace == proxyNamespace && (caOnly || isGateway || WorkloadCanListSecrets);

    /// <summary>
    /// The CA bundle standing for a DestinationRule's credentialName, found as istiod finds it: security/model
    /// ApplyCustomSDSToClientCommonTLSContext asks for <c>&lt;name&gt;-cacert</c>, and credentials/kube/secrets.go
    /// GetCaCert reads the Secret of that name, else — only when there is no such Secret — the Secret <c>&lt;name&gt;</c>;
    /// both in the namespace the name gives, else <paramref name="proxyNamespace"/> (default: the gateway's).
    /// Null: no such Secret, or the one read holds no CA (ExtractRoot fails: the secret is not supplied).
    /// </summary>
    public string? CaForCredential(string credentialName, string? proxyNamespace = null)
    {
        var (ns, name) = ParseSecret(credentialName, proxyNamespace ?? GatewayNamespace);
        return SecretPath(ns, name + CaCredentialSuffix) is { } caSecret ? CaOf(caSecret) : CaOf(SecretPath(ns, name));
    }

    /// <summary>
    /// The client certificate and key of a DestinationRule's MUTUAL credentialName (SDS <c>kubernetes://&lt;name&gt;</c>),
    /// as credentials/kube/secrets.go extractKeyAndCert reads the Secret: <c>cert</c>/<c>key</c> (generic), else
    /// <c>tls.crt</c>/<c>tls.key</c>; in the namespace the name gives, else <paramref name="proxyNamespace"/> (default:
    /// the gateway's). Null: no such Secret, or one without a certificate and key, or a key that is not the certificate's.
    /// </summary>
    public (string Certificate, string Key)? KeyCertForCredential(string credentialName, string? proxyNamespace = null)
    {
        var (ns, name) = ParseSecret(credentialName, proxyNamespace ?? GatewayNamespace);
        if (SecretPath(ns, name) is not { } folder || !Directory.Exists(folder))
        {
            return null;
        }
        foreach (var (cert, key) in new[] { ("cert", "key"), ("tls.crt", "tls.key") })
        {
            if (File.Exists(Path.Combine(folder, cert)) && File.Exists(Path.Combine(folder, key)))
            {
                return IsUsableKeyPair(Path.Combine(folder, cert), Path.Combine(folder, key)) ? (Path.Combine(folder, cert), Path.Combine(folder, key)) : null;
            }
        }
        return null;
    }

    // resource.go ParseResourceName (kubernetes://): <name> is in the proxy's namespace, <namespace>/<name> in that one.
    private static (string Namespace, string Name) ParseSecret(string credentialName, string proxyNamespace) =>
        credentialName.Split('/') is [var ns, var name, ..] ? (ns, name) : (proxyNamespace, credentialName);

    // The local stand-in of the Secret: EgressGateway:Credentials:<namespace>/<name>, or for the gateway's namespace <name>.
    private string? SecretPath(string ns, string name) =>
        Credentials?.GetValueOrDefault($"{ns}/{name}") ?? (ns == GatewayNamespace ? Credentials?.GetValueOrDefault(name) : null);

    // A Secret's CA: the file itself, or the folder's cacert (generic) or ca.crt (kubernetes.io/tls).
    private static string? CaOf(string? path) => path is null ? null
        : !Directory.Exists(path) ? path
        : new[] { "cacert", "ca.crt" }.Select(key => Path.Combine(path, key)).FirstOrDefault(File.Exists);

    private const string CaCredentialSuffix = "-cacert";
}
