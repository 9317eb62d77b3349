using System.Diagnostics;
using System.Diagnostics.Metrics;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;

namespace Demo.CfRouter.Tests;

/// <summary>
/// The local CF router answers as gorouter does (cloudfoundry/gorouter handlers/lookup.go,
/// proxy/round_tripper/proxy_round_tripper.go, proxy/fails/classifier_group.go, proxy/proxy.go).
/// </summary>
public sealed class GorouterTests
{
    private const string V1 = "hello-istio-v1.apps.example.com";
    private const string V2 = "hello-istio-v2.apps.example.com";

    [Fact]
    public async Task An_unknown_Host_gets_404_unknown_route_with_gorouters_body()
    {
        await using var router = await RouterHost.StartAsync();

        var (status, body, response) = await router.GetAsync(V2);

        Assert.Equal(404, status);
        Assert.Equal($"404 Not Found: Requested route ('{V2}') does not exist.\n", body);
        Assert.Equal("unknown_route", response.Headers.GetValues("X-Cf-Routererror").Single());
        Assert.Equal("no-cache, no-store", string.Join(", ", response.Headers.NonValidated["Cache-Control"]));
        Assert.Equal("text/plain; charset=utf-8", response.Content.Headers.ContentType?.ToString());
    }

    // gorouter keeps client connections alive (HTTP/1.1) and counts every request; the router's counter carries the
    // route, the status and X-Cf-Routererror's kind (empty when the app answered).
    [Fact]
    public async Task One_kept_alive_connection_carries_every_request_and_each_is_counted_by_route_status_and_router_error()
    {
        await using var router = await RouterHost.StartAsync();
        await using var instance = await AppInstance.StartAsync("v1-0");
        await router.RegisterAsync(V1, instance.Port);
        using var requests = new MetricCollector<long>(router.Services.GetRequiredService<IMeterFactory>(), GorouterTelemetry.Name, "cf_router.requests");

        for (var i = 0; i < 3; i++)
        {
            var (status, body, _) = await router.GetAsync(V1);
            Assert.Equal((200, "v1-0"), (status, body));
        }
        Assert.Equal(1, router.Connections);
        Assert.Equal(404, (await router.GetAsync(V2)).Status);

        await requests.WaitForMeasurementsAsync(4, TimeSpan.FromSeconds(10));
        var counted = requests.GetMeasurementSnapshot()
            .Select(m => (Route: m.Tags["cf.route"], Status: m.Tags["http.response.status_code"], Error: m.Tags["cf.router_error"], m.Value))
            .ToList();
        Assert.Equal(3, counted.Count(m => Equals(m.Route, V1) && Equals(m.Status, 200) && Equals(m.Error, "") && m.Value == 1));
        Assert.Equal(1, counted.Count(m => Equals(m.Route, V2) && Equals(m.Status, 404) && Equals(m.Error, "unknown_route") && m.Value == 1));
        Assert.Equal(4, counted.Count);
    }

    [Fact]
    public async Task A_route_whose_last_instance_unregistered_is_unknown_again()
    {
        await using var router = await RouterHost.StartAsync();
        await using var instance = await AppInstance.StartAsync("v1-0");
        await router.RegisterAsync(V1, instance.Port);
        Assert.Equal(200, (await router.GetAsync(V1)).Status);

        await router.RegisterAsync(V1, instance.Port, action: "unregister");

        var (status, body, response) = await router.GetAsync(V1);
        Assert.Equal((404, $"404 Not Found: Requested route ('{V1}') does not exist.\n"), (status, body));
        Assert.Equal("unknown_route", response.Headers.GetValues("X-Cf-Routererror").Single());
    }

    [Fact]
    public async Task Host_picks_the_route_and_requests_go_round_robin_over_its_instances()
    {
        await using var router = await RouterHost.StartAsync();
        await using var a = await AppInstance.StartAsync("v1-0");
        await using var b = await AppInstance.StartAsync("v1-1");
        await using var other = await AppInstance.StartAsync("v2-0");
        await router.RegisterAsync(V1, a.Port);
        await router.RegisterAsync(V1, b.Port);
        await router.RegisterAsync(V2, other.Port);

        var answers = new List<string>();
        for (var i = 0; i < 10; i++)
        {
            answers.Add((await router.GetAsync(V1)).Body);
        }

        Assert.Equal(5, answers.Count(x => x == "v1-0"));
        Assert.Equal(5, answers.Count(x => x == "v1-1"));
        Assert.Empty(other.Requests);
        Assert.Equal("v2-0", (await router.GetAsync(V2.ToUpperInvariant())).Body);
    }

    [Fact]
    public async Task An_instance_that_refuses_connections_is_skipped_for_another_instance_of_the_route()
    {
        await using var router = await RouterHost.StartAsync();
        await using var live = await AppInstance.StartAsync("v1-live");
        await router.RegisterAsync(V1, RouterHost.FreePort());
        await router.RegisterAsync(V1, live.Port);

        for (var i = 0; i < 6; i++)
        {
            var (status, body, _) = await router.GetAsync(V1);
            Assert.Equal((200, "v1-live"), (status, body));
        }
    }

    [Fact]
    public async Task When_no_instance_answers_the_router_gives_502_endpoint_failure()
    {
        await using var router = await RouterHost.StartAsync();
        var dead = Demo.Tests.LoopbackPorts.Free(2);
        foreach (var port in dead)
        {
            await router.RegisterAsync(V1, port);
        }

        var (status, body, response) = await router.GetAsync(V1);

        Assert.Equal(502, status);
        Assert.Equal("502 Bad Gateway: Registered endpoint failed to handle the request.\n", body);
        var error = response.Headers.GetValues("X-Cf-Routererror").Single();
        Assert.Matches(@"^endpoint_failure \(dial tcp 127\.0\.0\.1:\d+: connect: connection refused\)$", error);
        Assert.Contains(dead, port => error.Contains($":{port}:", StringComparison.Ordinal));
    }

    [Fact]
    public async Task The_instance_gets_gorouters_request_headers_and_the_trace_continues_through_the_routers_span()
    {
        await using var router = await RouterHost.StartAsync();
        await using var instance = await AppInstance.StartAsync("v1-0");
        await router.RegisterAsync(V1, instance.Port);
        var traceId = ActivityTraceId.CreateRandom();
        var parent = ActivitySpanId.CreateRandom();
        using var request = new HttpRequestMessage(HttpMethod.Get, $"https://{V1}/");
        request.Headers.TryAddWithoutValidation("traceparent", $"00-{traceId}-{parent}-01");
        var before = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();

        using var response = await router.Client.SendAsync(request);

        Assert.Equal(200, (int)response.StatusCode);
        var headers = Assert.Single(instance.Requests);
        Assert.Equal(V1, headers["Host"]);
        Assert.Equal("https", headers["X-Forwarded-Proto"]);
        Assert.Equal("127.0.0.1", headers["X-Forwarded-For"]);
        var start = long.Parse(headers["X-Request-Start"], System.Globalization.CultureInfo.InvariantCulture);
        Assert.InRange(start, before - 1000, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds());
        // With W3C trace context the request id is the trace id as a UUID (gorouter handlers/requestinfo.go).
        var id = traceId.ToHexString();
        Assert.Equal($"{id[..8]}-{id[8..12]}-{id[12..16]}-{id[16..20]}-{id[20..]}", headers["X-Vcap-Request-Id"]);
        var traceparent = headers["traceparent"].Split('-');
        Assert.Equal(id, traceparent[1]);
        Assert.NotEqual(parent.ToHexString(), traceparent[2]);
    }

    // The X-CF-APP-INSTANCE value is well-formed (app guid:index of the registered instance): gorouter parses the
    // header before routing and answers a malformed one with 400 (handlers/lookup.go parseAppInstanceHeader).
    [Fact]
    public async Task A_client_supplied_X_Forwarded_For_is_appended_to_and_X_CF_APP_INSTANCE_is_dropped()
    {
        const string app = "0b6b1a1e-3c8f-4f61-9d4a-2f1f9d0e7c55";
        await using var router = await RouterHost.StartAsync();
        await using var instance = await AppInstance.StartAsync("v1-0");
        await router.RegisterAsync(V1, instance.Port, app);
        using var request = new HttpRequestMessage(HttpMethod.Get, $"https://{V1}/");
        request.Headers.TryAddWithoutValidation("X-Forwarded-For", "203.0.113.7");
        request.Headers.TryAddWithoutValidation("X-CF-APP-INSTANCE", $"{app}:0");

        using var response = await router.Client.SendAsync(request);

        var headers = Assert.Single(instance.Requests);
        Assert.Equal("203.0.113.7, 127.0.0.1", headers["X-Forwarded-For"]);
        Assert.False(headers.ContainsKey("X-CF-APP-INSTANCE"));
    }

    [Fact]
    public async Task A_registration_not_renewed_within_its_stale_threshold_is_pruned()
    {
        await using var router = await RouterHost.StartAsync(new() { ["CfRouter:PruneStaleDropletsInterval"] = "00:00:00.200" });
        await using var instance = await AppInstance.StartAsync("v1-0");
        await router.RegisterAsync(V1, instance.Port, staleSeconds: 1);
        Assert.Equal(200, (await router.GetAsync(V1)).Status);

        var deadline = DateTime.UtcNow.AddSeconds(10);
        int status;
        do
        {
            await Task.Delay(200);
            status = (await router.GetAsync(V1)).Status;
        }
        while (status == 200 && DateTime.UtcNow < deadline);

        Assert.Equal(404, status);
    }

    [Fact]
    public async Task A_registration_without_host_port_or_uris_is_refused_with_the_reasons()
    {
        await using var router = await RouterHost.StartAsync();
        using var response = await router.Status.PostAsync("/routes/register",
            new StringContent("""{"host":"","port":0,"uris":[]}""", System.Text.Encoding.UTF8, "application/json"));

        Assert.Equal(400, (int)response.StatusCode);
        var body = await response.Content.ReadAsStringAsync();
        Assert.Contains("host is empty", body, StringComparison.Ordinal);
        Assert.Contains("port 0 is not 1-65535", body, StringComparison.Ordinal);
        Assert.Contains("uris is empty", body, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_apps_domain_is_served_with_one_wildcard_certificate_over_HTTP_1_1_and_registration_is_not()
    {
        await using var router = await RouterHost.StartAsync();
        using var tcp = new TcpClient();
        await tcp.ConnectAsync(System.Net.IPAddress.Loopback, router.HttpsPort);
        await using var tls = new SslStream(tcp.GetStream(), false, (_, _, _, _) => true);
        await tls.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
        {
            TargetHost = V2,
            ApplicationProtocols = [SslApplicationProtocol.Http2, SslApplicationProtocol.Http11],
        });
        using var certificate = new X509Certificate2(tls.RemoteCertificate!);
        Assert.Equal([RouterHost.AppsDomainWildcard],
            certificate.Extensions.OfType<X509SubjectAlternativeNameExtension>().SelectMany(e => e.EnumerateDnsNames()));
        Assert.Equal(SslApplicationProtocol.Http11, tls.NegotiatedApplicationProtocol);

        // Route registration lives on the status port only: on the apps' port it is just an unknown route.
        using var response = await router.Client.PostAsync($"https://{V1}/routes/register", new StringContent("{}"));
        Assert.Equal(404, (int)response.StatusCode);
    }
}

/// <summary>The router refuses to start on settings it cannot honour, naming them.</summary>
public sealed class RouterOptionsTests
{
    [Fact]
    public async Task A_missing_certificate_file_stops_the_router_at_start_naming_the_settings()
    {
        var error = await Assert.ThrowsAsync<Microsoft.Extensions.Options.OptionsValidationException>(() =>
            RouterHost.StartAsync(new() { ["CfRouter:CertificatePath"] = "/nonexistent/apps.crt.pem" }));

        Assert.Contains("CfRouter:CertificatePath and CfRouter:CertificateKeyPath must name existing PEM files", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task MaxAttempts_of_zero_is_refused_at_start()
    {
        var error = await Assert.ThrowsAsync<Microsoft.Extensions.Options.OptionsValidationException>(() =>
            RouterHost.StartAsync(new() { ["CfRouter:MaxAttempts"] = "0" }));

        Assert.Contains("MaxAttempts", error.Message, StringComparison.Ordinal);
    }
}
