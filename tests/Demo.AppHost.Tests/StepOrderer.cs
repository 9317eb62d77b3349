using Xunit.Abstractions;
using Xunit.Sdk;

namespace Demo.AppHost.Tests;

/// <summary>Tests that share one running AppHost and build on each other's history run in this order.</summary>
[AttributeUsage(AttributeTargets.Method)]
public sealed class StepAttribute(int number) : Attribute
{
    public int Number { get; } = number;
}

public sealed class StepOrderer : ITestCaseOrderer
{
    public const string TypeName = "Demo.AppHost.Tests.StepOrderer";
    public const string AssemblyName = "Demo.AppHost.Tests";

    public IEnumerable<TTestCase> OrderTestCases<TTestCase>(IEnumerable<TTestCase> testCases) where TTestCase : ITestCase =>
        testCases.OrderBy(t => t.TestMethod.Method.GetCustomAttributes(typeof(StepAttribute).AssemblyQualifiedName)
            .Select(a => a.GetConstructorArguments().Cast<int>().Single())
            .DefaultIfEmpty(int.MaxValue)
            .First());
}
