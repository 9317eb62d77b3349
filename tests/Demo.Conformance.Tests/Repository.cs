namespace Demo.Conformance.Tests;

/// <summary>The repository the tests run in: the folder above the test binaries that holds Demo.sln.</summary>
internal static class Repository
{
    public static string Root
    {
        get
        {
            var directory = new DirectoryInfo(AppContext.BaseDirectory);
            while (directory is not null && !File.Exists(Path.Combine(directory.FullName, "Demo.sln")))
            {
                directory = directory.Parent;
            }
            return directory?.FullName ?? throw new InvalidOperationException("Demo.sln not found above " + AppContext.BaseDirectory);
        }
    }
}
