namespace Demo.EgressGateway.Istio;

/// <summary>One file of <c>deploy/istio/scenarios/</c>: its name (without .yaml) and its one-line purpose.</summary>
/// <param name="Name">File name without <c>.yaml</c>, as <c>--Scenario</c> and the admin API take it.</param>
/// <param name="Purpose">The file's first comment line, without <c>#</c> and a leading <c>Scenario:</c>.</param>
public sealed record ScenarioInfo(string Name, string Purpose);

public static class ScenarioCatalog
{
    /// <summary>The scenarios' names (file names without <c>.yaml</c>), ordered; none when the folder is missing. Reads no file.</summary>
    public static IReadOnlyList<string> Names(string configDirectory)
    {
        var folder = Path.Combine(configDirectory, IstioConfigLoader.ScenariosFolder);
        return Directory.Exists(folder)
            ? [.. Directory.EnumerateFiles(folder, "*.yaml").Where(IstioConfigLoader.IsConfigFile).Select(Path.GetFileNameWithoutExtension).OfType<string>().Order(StringComparer.Ordinal)]
            : [];
    }

    /// <summary>The scenarios of <paramref name="configDirectory"/>, by name; none when the folder is missing.</summary>
    public static IReadOnlyList<ScenarioInfo> List(string configDirectory)
    {
        var folder = Path.Combine(configDirectory, IstioConfigLoader.ScenariosFolder);
        if (!Directory.Exists(folder))
        {
            return [];
        }
        return [.. Directory.EnumerateFiles(folder, "*.yaml")
            .Where(IstioConfigLoader.IsConfigFile)
            .Order(StringComparer.Ordinal)
            .Select(file => new ScenarioInfo(Path.GetFileNameWithoutExtension(file), Purpose(file)))];
    }

    private static string Purpose(string file)
    {
        foreach (var line in File.ReadLines(file))
        {
            var text = line.Trim();
            if (text.Length == 0)
            {
                continue;
            }
            if (!text.StartsWith('#'))
            {
                break;
            }
            text = text.TrimStart('#').Trim();
            const string prefix = "Scenario:";
            return text.StartsWith(prefix, StringComparison.OrdinalIgnoreCase) ? text[prefix.Length..].Trim() : text;
        }
        return "";
    }
}
