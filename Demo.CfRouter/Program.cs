using Demo.CfRouter;

var builder = WebApplication.CreateBuilder(args);

builder.AddServiceDefaults();
builder.AddCfRouter();

var app = builder.Build();

app.UseCfRouter();

app.Run();

public partial class Program;
