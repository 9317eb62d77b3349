using System.Text.Json.Nodes;

namespace Demo.Deploy.Tests;

/// <summary>The AppHost's manifest, written by running it in publish mode as a user would.</summary>
internal sealed record PublishedManifest(string Path, JsonObject Json)
{
    public string Directory => System.IO.Path.GetDirectoryName(Path)!;

    public JsonObject Resources => Json["resources"]!.AsObject();

    public JsonObject Resource(string name) => Resources[name]?.AsObject() ?? throw new InvalidOperationException($"no resource '{name}' in {Path}");

    public IReadOnlyDictionary<string, string?> Env(string name) =>
        Resource(name)["env"]?.AsObject().ToDictionary(kv => kv.Key, kv => kv.Value is JsonValue v && v.TryGetValue<string>(out var s) ? s : kv.Value?.ToJsonString())
        ?? new Dictionary<string, string?>();

    /// <summary><c>dotnet run --project Demo.AppHost -- --publisher manifest --output-path &lt;folder&gt;/aspire-manifest.json</c>.</summary>
    public static async Task<PublishedManifest> PublishAsync(string folder, params string[] settings)
    {
        var path = System.IO.Path.Combine(folder, "aspire-manifest.json");
        var result = await Processes.RunAsync("dotnet",
            ["run", "--project", Repository.AppHost, "--no-build", "-c", Repository.Configuration, "--",
             "--publisher", "manifest", "--output-path", path, .. settings],
            Repository.Root, TimeSpan.FromMinutes(3));
        if (result.ExitCode != 0 || !File.Exists(path))
        {
            throw new InvalidOperationException($"publishing the AppHost's manifest failed: {result}");
        }
        return new PublishedManifest(path, JsonNode.Parse(await File.ReadAllTextAsync(path))!.AsObject());
    }
}
