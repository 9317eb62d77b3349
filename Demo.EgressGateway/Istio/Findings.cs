namespace Demo.EgressGateway.Istio;

/// <summary>
/// What is found wrong with one YAML document — by the schema, the gateway's refusals and Istio's webhook rules —
/// as diagnostics naming file, resource, field path and line (<c>file:line: error: Kind 'name': field.path: message</c>).
/// </summary>
internal sealed class Findings(string file, YamlJsonDocument? document, List<ConfigDiagnostic> diagnostics)
{
    public string File { get; } = file;

    /// <summary><c>Kind 'name'</c> once the document's kind and name are read; null before.</summary>
    public string? Resource { get; set; }

    /// <summary>How many errors were reported.</summary>
    public int Errors { get; private set; }

    /// <summary>An error about the field at <paramref name="path"/>, on its line (or its nearest parent's).</summary>
    public void Error(string path, string message) => Error(path, message, document?.LineOf(path));

    /// <summary>An error about the field at <paramref name="path"/>, on a line known already.</summary>
    public void Error(string path, string message, int? line)
    {
        Errors++;
        diagnostics.Add(new(DiagnosticSeverity.Error, File, Resource, path, message, line));
    }

    public void Warning(string path, string message) =>
        diagnostics.Add(new(DiagnosticSeverity.Warning, File, Resource, path, message, document?.LineOf(path)));
}
