namespace Demo.Deploy.Tests;

/// <summary>A temp copy of deploy/ (without a local aspirate-output/) that a test may edit and render.</summary>
internal sealed class DeployTree : IDisposable
{
    public const string AppNamespace = "demo";
    private readonly TempFolder _folder = new();

    private DeployTree()
    {
        Copy(Repository.Deploy, Deploy, topLevel: true);
    }

    public string Deploy => Path.Combine(_folder.Path, "deploy");

    public string AspirateOutput => Path.Combine(Deploy, "aspirate-output");

    public string Istio => Path.Combine(Deploy, "istio");

    public static async Task<DeployTree> CreateAsync(PublishedManifest manifest)
    {
        var tree = new DeployTree();
        await Tests.AspirateOutput.WriteAsync(manifest, tree.AspirateOutput, AppNamespace);
        return tree;
    }

    public Task<IReadOnlyList<RenderedDocument>> RenderAsync(string folder = "") => RenderFolderAsync(Path.Combine(Deploy, folder));

    public static async Task<IReadOnlyList<RenderedDocument>> RenderFolderAsync(string folder) =>
        RenderedDocument.ParseAll(await Kubectl.KustomizeAsync(folder));

    /// <summary>Sets one value of deploy/settings.yaml.</summary>
    public void SetSetting(string key, string value)
    {
        var path = Path.Combine(Deploy, "settings.yaml");
        var lines = File.ReadAllLines(path);
        var index = Array.FindIndex(lines, l => l.StartsWith($"  {key}: ", StringComparison.Ordinal));
        Assert.True(index >= 0, $"settings.yaml has no '{key}'");
        lines[index] = $"  {key}: {value}";
        File.WriteAllLines(path, lines);
    }

    /// <summary>The commented scenario line of deploy/kustomization.yaml, the one-line switch deploy/README.md documents.</summary>
    public const string ScenarioLine = "  # - path: istio/scenarios/<name>.yaml\n";

    /// <summary>Selects a scenario the way deploy/README.md says: the commented line, uncommented with its name.</summary>
    public void AddScenario(string scenarioFile) =>
        ReplaceKustomizationLine(ScenarioLine, $"  - path: istio/scenarios/{scenarioFile}\n{ScenarioLine}");

    /// <summary>The Istio resource line of deploy/kustomization.yaml: the default pattern's folder.</summary>
    public const string PatternLine = "  - istio\n";

    /// <summary>Selects a pattern the way deploy/README.md says: the istio line replaced by istio/patterns/&lt;name&gt;.</summary>
    public void SelectPattern(string pattern) => ReplaceKustomizationLine(PatternLine, $"  - istio/patterns/{pattern}\n");

    private void ReplaceKustomizationLine(string line, string replacement)
    {
        var path = Path.Combine(Deploy, "kustomization.yaml");
        var text = File.ReadAllText(path);
        Assert.Contains(line, text, StringComparison.Ordinal);
        File.WriteAllText(path, text.Replace(line, replacement, StringComparison.Ordinal));
    }

    /// <summary>A copy of <paramref name="other"/>, its generated base included (no second publish or msbuild run).</summary>
    public static DeployTree CopyOf(DeployTree other)
    {
        var tree = new DeployTree();
        Directory.Delete(tree.Deploy, recursive: true);
        Copy(other.Deploy, tree.Deploy, topLevel: false);
        return tree;
    }

    public void Dispose() => _folder.Dispose();

    private static void Copy(string from, string to, bool topLevel)
    {
        Directory.CreateDirectory(to);
        foreach (var file in Directory.EnumerateFiles(from))
        {
            File.Copy(file, Path.Combine(to, Path.GetFileName(file)));
        }
        foreach (var directory in Directory.EnumerateDirectories(from))
        {
            if (!(topLevel && Path.GetFileName(directory) == "aspirate-output"))
            {
                Copy(directory, Path.Combine(to, Path.GetFileName(directory)), topLevel: false);
            }
        }
    }
}

/// <summary>
/// Published once for all tests: the manifest, a deploy tree with an Aspirate-shaped base generated from it, and
/// three renders — the whole tree, the base alone and deploy/istio alone.
/// </summary>
public sealed class DeployFixture : IAsyncLifetime
{
    private readonly TempFolder _publishFolder = new();
    private DeployTree? _tree;

    internal PublishedManifest Manifest { get; private set; } = null!;

    internal IReadOnlyList<RenderedDocument> Whole { get; private set; } = [];

    internal IReadOnlyList<RenderedDocument> Base { get; private set; } = [];

    internal IReadOnlyList<RenderedDocument> IstioOnly { get; private set; } = [];

    internal DeployTree Tree => _tree!;

    public async ValueTask InitializeAsync()
    {
        Manifest = await PublishedManifest.PublishAsync(_publishFolder.Path);
        _tree = await DeployTree.CreateAsync(Manifest);
        var whole = _tree.RenderAsync();
        var aspirateOnly = _tree.RenderAsync("aspirate-output");
        var istio = DeployTree.RenderFolderAsync(Repository.DeployIstio);
        Whole = await whole;
        Base = await aspirateOnly;
        IstioOnly = await istio;
    }

    public ValueTask DisposeAsync()
    {
        _tree?.Dispose();
        _publishFolder.Dispose();
        return ValueTask.CompletedTask;
    }
}

[CollectionDefinition(Name)]
public sealed class DeployCollection : ICollectionFixture<DeployFixture>
{
    public const string Name = "deploy";
}
