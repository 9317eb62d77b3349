using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;

namespace Demo.CfApps;

public static class HelloApi
{
    public static IEndpointRouteBuilder MapHelloApi(this IEndpointRouteBuilder app)
    {
        app.MapGroup("/").MapGet("/", GetHello);
        return app;
    }

    public static ContentHttpResult GetHello(IOptions<CfAppOptions> options) =>
        TypedResults.Text($"Hello K8s, from CF {options.Value.Version} service!", "text/plain; charset=utf-8");
}
