namespace Demo.Deploy.Tests;

/// <summary>The AppHost in publish mode yields a manifest Aspirate handles: two projects, http, plain values.</summary>
[Collection(DeployCollection.Name)]
public sealed class PublishManifestTests(DeployFixture fixture)
{
    private PublishedManifest Manifest => fixture.Manifest;

    [Fact]
    public void Only_the_proxy_and_the_caller_are_published_as_projects()
    {
        Assert.Equal(["caller", "proxy"], Manifest.Resources.Select(r => r.Key).Order(StringComparer.Ordinal));
        foreach (var (name, resource) in Manifest.Resources)
        {
            Assert.Contains((string?)resource!["type"], new[] { "project.v0", "project.v1" });
            var project = Path.GetFullPath(Path.Combine(Manifest.Directory, (string)resource["path"]!));
            Assert.True(File.Exists(project), $"{name}: {project} does not exist");
        }
        Assert.EndsWith("Demo.Proxy.csproj", (string)Manifest.Resource("proxy")["path"]!, StringComparison.Ordinal);
        Assert.EndsWith("Demo.Caller.csproj", (string)Manifest.Resource("caller")["path"]!, StringComparison.Ordinal);
    }

    [Fact]
    public void Bindings_are_http_only()
    {
        var proxy = Manifest.Resource("proxy")["bindings"]!.AsObject();
        var http = Assert.Single(proxy);
        Assert.Equal("http", http.Key);
        Assert.Equal("http", (string?)http.Value!["scheme"]);
        Assert.Equal("http", (string?)http.Value!["transport"]);
        Assert.Null(Manifest.Resource("caller")["bindings"]);
    }

    [Fact]
    public void Env_values_are_plain_or_http_binding_references()
    {
        foreach (var name in new[] { "proxy", "caller" })
        {
            foreach (var (key, value) in Manifest.Env(name))
            {
                Assert.NotNull(value);
                Assert.DoesNotContain("https", value, StringComparison.Ordinal);
                Assert.True(!value.Contains('{', StringComparison.Ordinal) || value.Contains(".bindings.http.", StringComparison.Ordinal),
                    $"{name}.env.{key} = '{value}' is an expression Aspirate would not resolve");
            }
        }
    }

    [Fact]
    public void The_proxy_calls_the_in_mesh_name_and_the_caller_the_proxy()
    {
        var proxy = Manifest.Env("proxy");
        Assert.Equal("http://hello.external/", proxy["Upstream__BaseAddress"]);
        Assert.DoesNotContain("Upstream__HttpProxy", proxy.Keys);
        Assert.Equal("proxy", proxy["OTEL_SERVICE_NAME"]);

        var caller = Manifest.Env("caller");
        Assert.Equal("{proxy.bindings.http.url}", caller["services__proxy__http__0"]);
        Assert.Equal("caller", caller["OTEL_SERVICE_NAME"]);
        Assert.Equal("http://proxy:8080", AspirateOutput.Env(Manifest, "caller").Single(kv => kv.Key == "services__proxy__http__0").Value);
    }

    [Fact]
    public void Nothing_local_only_is_published()
    {
        var text = File.ReadAllText(Manifest.Path);
        foreach (var localOnly in new[] { "cf-v1", "cf-v2", "egress", "EgressGateway", "CfApp", ".devcerts", "localhost", "127.0.0.1" })
        {
            Assert.DoesNotContain(localOnly, text, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task The_OTLP_endpoint_is_a_publish_setting()
    {
        Assert.DoesNotContain("OTEL_EXPORTER_OTLP_ENDPOINT", Manifest.Env("proxy").Keys);

        using var folder = new TempFolder();
        var manifest = await PublishedManifest.PublishAsync(folder.Path, "--Cluster:OtlpEndpoint", "http://otel-collector.observability:4317");

        foreach (var name in new[] { "proxy", "caller" })
        {
            Assert.Equal("http://otel-collector.observability:4317", manifest.Env(name)["OTEL_EXPORTER_OTLP_ENDPOINT"]);
        }
    }

    [Theory]
    [InlineData("Demo.Proxy", "demo/proxy")]
    [InlineData("Demo.Caller", "demo/caller")]
    public void Projects_name_their_container_images(string project, string repository)
    {
        var csproj = System.Xml.Linq.XDocument.Load(Path.Combine(Repository.Root, project, project + ".csproj"));
        Assert.Equal(repository, csproj.Descendants("ContainerRepository").Single().Value);
    }
}
