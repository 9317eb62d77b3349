// Every test here runs gateways, upstreams and clients in this process, on both cores: each takes a queued shared
// heavy section, so an exclusive one elsewhere in the suite (a soak, the AppHost's cold start) runs without them.
[assembly: Demo.Tests.HeavyTest]
