using System.Reflection;
using Xunit.Sdk;
using Xunit.v3;

namespace Demo.AppHost.Tests;

/// <summary>Tests that share one running AppHost and build on each other's history run in this order.</summary>
[AttributeUsage(AttributeTargets.Method)]
public sealed class StepAttribute(int number) : Attribute
{
    public int Number { get; } = number;
}

/// <summary>Runs a class's test methods by their <see cref="StepAttribute"/> number (unnumbered ones last).</summary>
public sealed class StepOrderer : ITestMethodOrderer
{
    public IReadOnlyCollection<TTestMethod?> OrderTestMethods<TTestMethod>(IReadOnlyCollection<TTestMethod?> testMethods)
        where TTestMethod : notnull, ITestMethod =>
        [.. testMethods.OrderBy(m => m is IXunitTestMethod { Method: var method }
            ? method.GetCustomAttribute<StepAttribute>()?.Number ?? int.MaxValue
            : int.MaxValue)];
}
