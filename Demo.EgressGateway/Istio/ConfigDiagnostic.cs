namespace Demo.EgressGateway.Istio;

public enum DiagnosticSeverity { Error, Warning }

/// <summary>One finding about the YAML: which file, which resource, which field, and what is wrong.</summary>
public sealed record ConfigDiagnostic(
    DiagnosticSeverity Severity,
    string File,
    string? Resource,
    string? Field,
    string Message,
    int? Line = null)
{
    public override string ToString()
    {
        var where = Line is { } line ? $"{File}:{line}" : File;
        var what = (Resource, Field) switch
        {
            (null, null) => "",
            (_, null) => $" {Resource}:",
            (null, _) => $" {Field}:",
            _ => $" {Resource}: {Field}:",
        };
        var severity = Severity == DiagnosticSeverity.Error ? "error" : "warning";
        return $"{where}: {severity}:{what} {Message}";
    }
}

public sealed class IstioConfigException(IReadOnlyList<ConfigDiagnostic> diagnostics)
    : Exception(BuildMessage(diagnostics))
{
    public IReadOnlyList<ConfigDiagnostic> Diagnostics { get; } = diagnostics;

    private static string BuildMessage(IReadOnlyList<ConfigDiagnostic> diagnostics) =>
        "The Istio configuration cannot be honoured:" + Environment.NewLine
        + string.Join(Environment.NewLine, diagnostics.Where(d => d.Severity == DiagnosticSeverity.Error).Select(d => "  " + d));
}
