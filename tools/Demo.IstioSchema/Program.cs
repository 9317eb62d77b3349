using Demo.IstioSchema;

// Usage: dotnet run --project tools/Demo.IstioSchema [-- <crd-all.gen.yaml> [<output.json>]]
// Defaults: ../shared/istio/crd-all.gen.yaml beside the clone (Istio 1.30.3's
// manifests/charts/base/files/crd-all.gen.yaml, Apache-2.0) and the schema file the egress gateway embeds.
var root = FindRoot();
var crds = args.Length > 0 ? args[0] : Path.GetFullPath(Path.Combine(root, "..", "shared", "istio", "crd-all.gen.yaml"));
var output = args.Length > 1 ? args[1] : Path.Combine(root, CrdSchemaCompactor.SchemaFile);
var text = CrdSchemaCompactor.Compact(File.ReadAllText(crds), CrdSchemaCompactor.IstioRelease);
File.WriteAllText(output, text);
Console.WriteLine($"{output}: {text.Length} characters from {crds}");
return 0;

static string FindRoot()
{
    for (var directory = Directory.GetCurrentDirectory(); directory is not null; directory = Path.GetDirectoryName(directory))
    {
        if (File.Exists(Path.Combine(directory, "Demo.sln")))
        {
            return directory;
        }
    }
    throw new InvalidOperationException("run it inside the clone (no Demo.sln above the current directory)");
}
