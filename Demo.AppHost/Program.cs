var builder = DistributedApplication.CreateBuilder(args);
builder.TrustDevelopmentCertificateForCurrentUser();
builder.NoticeHealthyResourcesPromptly();

var egress = builder.AddLocalEgressGateway("egress")?.WithIstioControlPanel();

var router = builder.AddCfRouter("cf-router", appsDomain: "apps.example.com", egress);
var cfV1 = builder.AddCfApp("cf-v1", appName: "hello-istio-v1", version: "v1", route: "hello-istio-v1.apps.example.com", router, egress);
var cfV2 = builder.AddCfApp("cf-v2", appName: "hello-istio-v2", version: "v2", route: "hello-istio-v2.apps.example.com", router, egress);

var proxy = builder.AddProject<Projects.Demo_Proxy>("proxy").PublishForCluster()
    .WithEnvironment("Upstream__BaseAddress", EgressPattern.Selected(builder).ProxyBaseAddress)
    .WithHttpHealthCheck("/health")
    .ViaLocalEgressGateway(egress);

builder.AddProject<Projects.Demo_Caller>("caller").PublishForCluster()
    .WithReference(proxy)
    .WaitForLocalPath(proxy, egress, router, cfV1, cfV2);

builder.Build().Run();
