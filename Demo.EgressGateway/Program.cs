using Demo.EgressGateway;

if (args is ["analyze", ..])
{
    return IstioAnalyzeCommand.Run(args[1..], Console.Out);
}

var builder = WebApplication.CreateBuilder(args);

builder.AddServiceDefaults();
builder.AddEgressGateway();

var app = builder.Build();

app.UseMeshListener();
app.MapDefaultEndpoints();

app.Run();
return 0;

public partial class Program;
