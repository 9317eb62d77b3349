namespace Aspire.Hosting;

/// <summary>
/// The publish-mode half of the app model: the manifest Aspirate turns into Kubernetes objects (see deploy/README.md).
/// In a cluster each project serves plain HTTP on its <c>http</c> binding — the sidecars add mTLS — and
/// telemetry goes to the OTLP endpoint given at publish time (<c>--Cluster:OtlpEndpoint &lt;url&gt;</c>).
/// </summary>
internal static class ClusterPublishExtensions
{
    public const string OtlpEndpointSetting = "Cluster:OtlpEndpoint";

    public static IResourceBuilder<ProjectResource> PublishForCluster(this IResourceBuilder<ProjectResource> project)
    {
        var builder = project.ApplicationBuilder;
        if (!builder.ExecutionContext.IsPublishMode)
        {
            return project;
        }

        // Publish mode adds an https binding to every project; Aspirate resolves its URL to an empty string and
        // drops the variables that reference it, so only http is published.
        foreach (var endpoint in project.Resource.Annotations.OfType<EndpointAnnotation>().Where(e => e.UriScheme != "http").ToList())
        {
            project.Resource.Annotations.Remove(endpoint);
        }

        project.WithEnvironment("OTEL_SERVICE_NAME", project.Resource.Name);
        if (builder.Configuration[OtlpEndpointSetting] is { Length: > 0 } otlpEndpoint)
        {
            project.WithEnvironment("OTEL_EXPORTER_OTLP_ENDPOINT", otlpEndpoint);
        }
        return project;
    }
}
