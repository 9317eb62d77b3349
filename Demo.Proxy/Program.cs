using Demo.Proxy;

var builder = WebApplication.CreateBuilder(args);

builder.AddServiceDefaults();
builder.AddUpstreamClient();

var app = builder.Build();

app.MapDefaultEndpoints();
app.MapProxyApi();

app.Run();

public partial class Program;
