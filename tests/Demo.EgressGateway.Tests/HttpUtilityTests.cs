using Demo.EgressGateway.Envoy;

namespace Demo.EgressGateway.Tests;

/// <summary>
/// Envoy's <c>Http::Utility::parseAuthority</c> (source/common/http/utility.cc), which the router reads for auto_sni
/// (no SNI for an IP literal) and auto_san_validation; its port rule differs from <c>HeaderUtility::getPortStart</c>'s.
/// </summary>
public sealed class HttpUtilityTests
{
    [Theory]
    [InlineData("hello.external:80", false, "hello.external", 80)]
    [InlineData("hello.external", false, "hello.external", null)]
    [InlineData("hello.external:", false, "hello.external:", null)]
    [InlineData("hello.external:65535", false, "hello.external", 65535)]
    [InlineData("hello.external:65536", false, "hello.external:65536", null)]
    [InlineData("hello.external:http", false, "hello.external:http", null)]
    [InlineData("127.0.0.1:443", true, "127.0.0.1", 443)]
    [InlineData("127.0.0.1", true, "127.0.0.1", null)]
    [InlineData("1.2", false, "1.2", null)]
    [InlineData("256.1.1.1", false, "256.1.1.1", null)]
    [InlineData("[::1]:80", true, "::1", 80)]
    [InlineData("[::1]", true, "::1", null)]
    [InlineData("[fc00::1]:8080", true, "fc00::1", 8080)]
    [InlineData("[not-an-ip]:80", false, "[not-an-ip]", 80)]
    public void The_host_port_and_IP_literal_are_read_as_Envoy_reads_them(string authority, bool isIp, string host, int? port) =>
        Assert.Equal(new HttpUtility.AuthorityAttributes(isIp, host, port), HttpUtility.ParseAuthority(authority));
}
