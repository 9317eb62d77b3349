using System.Collections.Concurrent;
using System.Net;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json;
using Demo.DevCertificates;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;

namespace Demo.Conformance.Tests;

/// <summary>
/// What the echo upstream received, as Istio's echo app (pkg/test/echo) reports it: which instance answered
/// (<see cref="Hostname"/>), the Host, method, path+query, protocol, whether TLS was used (with the SNI the client
/// sent) and every request header.
/// </summary>
public sealed record EchoRequest(
    string Hostname,
    string Host,
    string Method,
    string Url,
    string Protocol,
    bool Tls,
    string? Sni,
    Dictionary<string, string[]> Headers)
{
    /// <summary>The values of a request header (case-insensitive name), empty when it was not sent.</summary>
    public string[] Header(string name) =>
        Headers.FirstOrDefault(h => h.Key.Equals(name, StringComparison.OrdinalIgnoreCase)).Value ?? [];
}

/// <summary>
/// One external service on 127.0.0.1, standing in for an Istio echo instance: a plain HTTP port and an HTTPS port
/// (a certificate per SNI, issued by the test CA). Every request is answered 200 with the <see cref="EchoRequest"/>
/// as JSON unless <see cref="Behaviour"/> answers it. Like the Go server behind Istio's echo app, the HTTPS port
/// answers a plain-text request with <c>400 Bad Request</c> ("Client sent an HTTP request to an HTTPS server.").
/// </summary>
public sealed class EchoUpstream : IAsyncDisposable
{
    /// <summary>Go net/http's answer to plain text on a TLS port (net/http server.go, tls.RecordHeaderError).</summary>
    public static readonly byte[] PlainTextOnTlsPortReply =
        "HTTP/1.0 400 Bad Request\r\n\r\nClient sent an HTTP request to an HTTPS server.\n"u8.ToArray();

    private readonly WebApplication _app;
    private readonly List<X509Certificate2> _certificates;
    private int _count;

    private EchoUpstream(string name, WebApplication app, List<X509Certificate2> certificates)
    {
        Name = name;
        _app = app;
        _certificates = certificates;
    }

    /// <summary>Reported as <see cref="EchoRequest.Hostname"/>: which instance answered.</summary>
    public string Name { get; }

    public int HttpPort { get; private set; }

    public int HttpsPort { get; private set; }

    /// <summary>Every request received, in order (including those <see cref="Behaviour"/> answered).</summary>
    public ConcurrentQueue<EchoRequest> Received { get; } = new();

    /// <summary>Requests received so far.</summary>
    public int Count => Volatile.Read(ref _count);

    /// <summary>
    /// Answers a request instead of the echo: gets the context and the 1-based number of the request; returns
    /// true when it wrote the response.
    /// </summary>
    public Func<HttpContext, int, Task<bool>>? Behaviour { get; set; }

    /// <summary>Starts the instance; <paramref name="certificate"/> issues the certificate presented for an SNI.</summary>
    /// <param name="clientCa">When set, a TLS client must present a certificate this CA issued (else the handshake fails).</param>
    public static async Task<EchoUpstream> StartAsync(string name, Func<string, X509Certificate2> certificate, X509Certificate2? clientCa = null)
    {
        var certificates = new ConcurrentDictionary<string, X509Certificate2>(StringComparer.OrdinalIgnoreCase);
        var issued = new List<X509Certificate2>();
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.Listen(IPAddress.Loopback, 0, listen => listen.Protocols = HttpProtocols.Http1AndHttp2);
            kestrel.Listen(IPAddress.Loopback, 0, listen =>
            {
                listen.Protocols = HttpProtocols.Http1AndHttp2;
                listen.Use(next => connection => AnswerPlainTextWith400Async(connection, next));
                listen.UseHttps(https =>
                {
                    https.ServerCertificateSelector = (_, sni) =>
                        certificates.GetOrAdd(sni ?? name, host =>
                        {
                            var created = certificate(host);
                            lock (issued)
                            {
                                issued.Add(created);
                            }
                            return created;
                        });
                    if (clientCa is not null)
                    {
                        https.ClientCertificateMode = Microsoft.AspNetCore.Server.Kestrel.Https.ClientCertificateMode.RequireCertificate;
                        https.ClientCertificateValidation = (client, _, _) =>
                        {
                            using var chain = new X509Chain();
                            chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
                            chain.ChainPolicy.CustomTrustStore.Add(clientCa);
                            chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
                            return chain.Build(client);
                        };
                    }
                });
            });
        });
        var app = builder.Build();
        var upstream = new EchoUpstream(name, app, issued);
        app.Run(upstream.HandleAsync);
        await app.StartAsync();
        var addresses = app.Urls.Select(u => new Uri(u)).ToList();
        upstream.HttpPort = addresses.First(u => u.Scheme == "http").Port;
        upstream.HttpsPort = addresses.First(u => u.Scheme == "https").Port;
        return upstream;
    }

    /// <summary>A certificate for <paramref name="dnsName"/> issued by <paramref name="issuer"/>, valid for a day.</summary>
    public static X509Certificate2 Issue(X509Certificate2 issuer, string dnsName) =>
        LocalCertificateAuthority.IssueServerCertificate(issuer, dnsName, DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddDays(1));

    private static async Task AnswerPlainTextWith400Async(ConnectionContext connection, ConnectionDelegate next)
    {
        var input = connection.Transport.Input;
        var read = await input.ReadAsync();
        var buffer = read.Buffer;
        if (buffer.IsEmpty)
        {
            input.AdvanceTo(buffer.Start);
            return;
        }
        // A TLS connection starts with a handshake record (content type 22).
        if (buffer.FirstSpan[0] != 0x16)
        {
            input.AdvanceTo(buffer.End);
            await connection.Transport.Output.WriteAsync(PlainTextOnTlsPortReply);
            await connection.Transport.Output.CompleteAsync();
            return;
        }
        input.AdvanceTo(buffer.Start);
        await next(connection);
    }

    private async Task HandleAsync(HttpContext context)
    {
        var request = context.Request;
        var tls = context.Features.Get<ITlsHandshakeFeature>();
        var echo = new EchoRequest(
            Name,
            request.Headers.Host.ToString(),
            request.Method,
            request.Path + request.QueryString,
            request.Protocol,
            request.IsHttps,
            tls?.HostName,
            request.Headers.ToDictionary(h => h.Key, h => h.Value.Select(v => v ?? "").ToArray(), StringComparer.OrdinalIgnoreCase));
        Received.Enqueue(echo);
        var number = Interlocked.Increment(ref _count);
        if (Behaviour is { } behaviour && await behaviour(context, number))
        {
            return;
        }
        context.Response.ContentType = "application/json";
        await context.Response.WriteAsync(JsonSerializer.Serialize(echo));
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
        lock (_certificates)
        {
            foreach (var certificate in _certificates)
            {
                certificate.Dispose();
            }
        }
    }
}
