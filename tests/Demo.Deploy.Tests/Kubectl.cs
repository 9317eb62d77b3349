namespace Demo.Deploy.Tests;

/// <summary>kubectl's built-in kustomize, for offline renders: no cluster is contacted.</summary>
internal static class Kubectl
{
    private static readonly Lazy<string?> Location = new(Find);

    public static string Path => Location.Value ?? throw new InvalidOperationException(
        "kubectl was not found (neither /usr/bin/kubectl nor on PATH). The deploy tests render deploy/ with `kubectl kustomize`; "
        + "install kubectl (it includes kustomize) and run the tests again.");

    public static async Task<string> KustomizeAsync(string directory)
    {
        var result = await Processes.RunAsync(Path, ["kustomize", directory], directory, TimeSpan.FromMinutes(2));
        if (result.ExitCode != 0)
        {
            throw new InvalidOperationException($"kubectl kustomize {directory} failed: {result}");
        }
        return result.StandardOutput;
    }

    private static string? Find()
    {
        var candidates = (Environment.GetEnvironmentVariable("PATH") ?? "")
            .Split(System.IO.Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
            .Select(directory => System.IO.Path.Combine(directory, "kubectl"))
            .Prepend("/usr/bin/kubectl");
        return candidates.FirstOrDefault(File.Exists);
    }
}
