namespace Demo.EgressGateway.Tests;

/// <summary>A temp copy of deploy/istio for a test to edit.</summary>
public sealed class ConfigFolder
{
    private ConfigFolder(string path) => Path = path;

    public string Path { get; }

    public static string RepositoryRoot
    {
        get
        {
            var directory = new DirectoryInfo(AppContext.BaseDirectory);
            while (directory is not null && !System.IO.File.Exists(System.IO.Path.Combine(directory.FullName, "Demo.sln")))
            {
                directory = directory.Parent;
            }
            return directory?.FullName ?? throw new InvalidOperationException("Demo.sln not found above " + AppContext.BaseDirectory);
        }
    }

    public static string DeployIstio => System.IO.Path.Combine(RepositoryRoot, "deploy", "istio");

    public static ConfigFolder CopyOfDeployIstio()
    {
        var target = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "demo-istio-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(target);
        foreach (var file in Directory.EnumerateFiles(DeployIstio, "*", SearchOption.AllDirectories))
        {
            var destination = System.IO.Path.Combine(target, System.IO.Path.GetRelativePath(DeployIstio, file));
            Directory.CreateDirectory(System.IO.Path.GetDirectoryName(destination)!);
            System.IO.File.Copy(file, destination);
        }
        return new ConfigFolder(target);
    }

    public string File(string name) => System.IO.Path.Combine(Path, name);

    public string Read(string name) => System.IO.File.ReadAllText(File(name));

    public void Write(string name, string contents) => WriteWhole(File(name), contents);

    /// <summary>
    /// Writes a file as one change: staged beside it, then renamed over it, so a watcher never reads it truncated or
    /// half-written (<c>File.WriteAllText</c> truncates first, and a stalled writer can outlast the reload debounce).
    /// </summary>
    public static void WriteWhole(string path, string contents)
    {
        var staging = System.IO.Path.Combine(System.IO.Path.GetDirectoryName(path)!, ".staging-" + Guid.NewGuid().ToString("N"));
        System.IO.File.WriteAllText(staging, contents);
        System.IO.File.Move(staging, path, overwrite: true);
    }

    /// <summary>Replaces <paramref name="find"/> (which must occur) in a file.</summary>
    public void Replace(string name, string find, string replacement)
    {
        var text = Read(name);
        if (!text.Contains(find, StringComparison.Ordinal))
        {
            throw new InvalidOperationException($"'{find}' not found in {name}");
        }
        Write(name, text.Replace(find, replacement, StringComparison.Ordinal));
    }

    public void Delete(string name) => System.IO.File.Delete(File(name));
}
