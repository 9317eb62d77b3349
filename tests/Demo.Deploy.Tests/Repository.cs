using System.Reflection;

namespace Demo.Deploy.Tests;

internal static class Repository
{
    public static string Root { get; } = FindRoot();

    public static string Deploy => Path.Combine(Root, "deploy");

    public static string DeployIstio => Path.Combine(Deploy, "istio");

    public static string AppHost => Path.Combine(Root, "Demo.AppHost");

    /// <summary>Istio's CRDs, from shared/ beside the clone (where CI has it).</summary>
    public static string IstioCrds => Path.GetFullPath(Path.Combine(Root, "..", "shared", "istio", "crd-all.gen.yaml"));

    /// <summary>The build configuration of these tests, which is also the AppHost's (it is built as a dependency).</summary>
    public static string Configuration { get; } = typeof(Repository).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>()
        .Single(a => a.Key == "Configuration").Value!;

    private static string FindRoot()
    {
        for (var directory = AppContext.BaseDirectory; directory is not null; directory = Path.GetDirectoryName(directory))
        {
            if (File.Exists(Path.Combine(directory, "Demo.sln")))
            {
                return directory;
            }
        }
        throw new InvalidOperationException($"no Demo.sln above {AppContext.BaseDirectory}");
    }
}

/// <summary>A folder under the temp directory, deleted on dispose.</summary>
internal sealed class TempFolder : IDisposable
{
    public string Path { get; } = Directory.CreateTempSubdirectory("demo-deploy-").FullName;

    public void Dispose()
    {
        try
        {
            Directory.Delete(Path, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
