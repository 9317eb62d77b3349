using System.Globalization;

namespace Demo.Bench;

/// <summary><c>scale-config</c>: writes <see cref="ScaleConfig"/>'s generated services into a folder.</summary>
public static class ScaleConfigCommand
{
    public static int Run(string directory, int services, Arguments arguments)
    {
        var files = ScaleConfig.Write(directory, services,
            (int)arguments.Number("fault-status", 418), arguments.Number("fault-percent", 10),
            (int)arguments.Number("max-list-items", ScaleConfig.LoaderListCap));
        Console.WriteLine(files.ToString(CultureInfo.InvariantCulture));
        return 0;
    }
}
