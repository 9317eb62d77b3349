using Demo.EgressGateway.Istio;

namespace Demo.EgressGateway.Envoy;

// What a proxy gets over SDS for the secrets its TLS contexts name: istiod's SDS for a credentialName's Secret
// (pilot/pkg/xds/sds.go Generate, filterAuthorizedResources), the proxy's agent for the files a rule names
// (security/pkg/nodeagent/sds, cache/secretcache.go).
public static partial class IstioTranslator
{
    private sealed partial class ProxyTranslation
    {
        // The secrets the names resolve to: a credentialName's Secret (the local stand-in: EgressGateway:Credentials),
        // as far as this proxy may read it, or the files the resource names. A name nothing supplies is left out, as a
        // Secret that does not exist or that istiod does not give this proxy: its TLS context is then never ready.
        private void AddSdsSecrets(string? credentialName, string? certificateFile, string? keyFile, string? caFile,
            string? certificateSecret, string? caSecret)
        {
            var credential = string.IsNullOrEmpty(credentialName) ? null : credentialName;
            var ca = credential is null ? caFile
                : MayRead(credential + "-cacert", caOnly: true) ? environment.CaForCredential(credential, proxyNamespace) : null;
            if (caSecret is not null && caSecret != SdsSecretConfig.SystemRoot && ca is not null)
            {
                _secrets.TryAdd(caSecret, new Secret(caSecret, null, new SecretValidationContext(new DataSource(ca))));
            }
            if (certificateSecret is not null)
            {
                var keyPair = credential is null
                    ? MeshEnvironment.IsUsableKeyPair(certificateFile, keyFile) ? (certificateFile!, keyFile!) : null
                    : MayRead(credential, caOnly: false) ? environment.KeyCertForCredential(credential, proxyNamespace) : null;
                if (keyPair is var (certificate, key))
                {
                    _secrets.TryAdd(certificateSecret, new Secret(certificateSecret, new TlsCertificate(new DataSource(certificate), new DataSource(key)), null));
                }
            }
        }

        // sds.go filterAuthorizedResources: a Secret of this proxy's own namespace only; a CA-only one (<name>-cacert)
        // always, any other only when the proxy's service account may list Secrets there.
        private bool MayRead(string credentialName, bool caOnly) => environment.MayRead(credentialName, caOnly, proxyNamespace, isGateway);
    }
}
