using Demo.EgressGateway;
using Demo.EgressGateway.Istio;

if (args is ["analyze", ..])
{
    return IstioAnalyzeCommand.Run(args[1..], Console.Out);
}

var builder = WebApplication.CreateBuilder(args);

builder.AddServiceDefaults();
builder.AddEgressGateway();

var app = builder.Build();

try
{
    app.UseMeshListener();
}
catch (IstioConfigException ex)
{
    // Refuse to start, saying which file, resource and field — without a stack trace in the way.
    Console.Error.WriteLine(ex.Message);
    return 1;
}
app.MapDefaultEndpoints();
app.MapAdminApi();
app.MapConfigDump();

app.Run();
return 0;

public partial class Program;
