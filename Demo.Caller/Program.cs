using Demo.Caller;

var builder = Host.CreateApplicationBuilder(args);

builder.AddServiceDefaults();
builder.AddCaller();

builder.Build().Run();
