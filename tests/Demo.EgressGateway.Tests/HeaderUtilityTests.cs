using Demo.EgressGateway.Envoy;

namespace Demo.EgressGateway.Tests;

/// <summary>
/// Envoy's <c>HeaderUtility::getPortStart</c> (source/common/http/header_utility.cc), which virtual-host selection
/// (<c>ignore_port_in_host_matching</c>) and the route's decorator name use to drop the Host's port (auto_sni reads
/// it with <c>Http::Utility::parseAuthority</c>: <see cref="HttpUtilityTests"/>).
/// </summary>
public sealed class HeaderUtilityTests
{
    [Theory]
    [InlineData("hello.external:80", "hello.external")]
    [InlineData("hello.external", "hello.external")]
    [InlineData("hello.external:", "hello.external")]
    [InlineData("127.0.0.1:443", "127.0.0.1")]
    [InlineData("[::1]:80", "[::1]")]
    [InlineData("[::1]", "[::1]")]
    [InlineData("[fc00::1]:8080", "[fc00::1]")]
    public void The_port_is_what_follows_the_last_colon_unless_an_IPv6_literal_ends_after_it(string authority, string expected) =>
        Assert.Equal(expected, HeaderUtility.StripPortFromHost(authority));
}
