using Demo.CfApps;

var builder = WebApplication.CreateBuilder(args);

builder.AddServiceDefaults();
builder.AddCfApp();

var app = builder.Build();

app.UseRequestLog();
app.UseGorouterStyleRouting();

app.MapDefaultEndpoints();
app.MapHelloApi();

app.Run();

public partial class Program;
