using Demo.CfRouter;

var builder = WebApplication.CreateBuilder(args);

builder.AddServiceDefaults();
builder.AddCfRouter();

var app = builder.Build();

app.UseGorouter();
app.MapDefaultEndpoints();
app.MapRouteRegistrationApi();

app.Run();

public partial class Program;
