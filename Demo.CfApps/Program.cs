using Demo.CfApps;

var builder = WebApplication.CreateBuilder(args);

builder.AddServiceDefaults();
builder.AddCfApp();

var app = builder.Build();

app.UseCfApp();

app.Run();

public partial class Program;
