using System.Reflection;
using Xunit.Sdk;
using Xunit.v3;

[assembly: TestCollectionOrderer(typeof(Demo.AppHost.Tests.StoriesLastOrderer))]

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

/// <summary>
/// Runs the shared-AppHost collection (the CF stories, which time the platform's reactions to a second) last, after the
/// collections that start their own AppHost: <c>dotnet test Demo.sln</c> runs other test assemblies beside this one
/// (two at a time on a 2-core machine), and by then the busiest of them are done, so the stories time the app rather
/// than a machine running the whole solution's tests.
/// </summary>
public sealed class StoriesLastOrderer : ITestCollectionOrderer
{
    public IReadOnlyCollection<TTestCollection> OrderTestCollections<TTestCollection>(IReadOnlyCollection<TTestCollection> testCollections)
        where TTestCollection : ITestCollection =>
        [.. testCollections
            .OrderBy(c => c.TestCollectionDisplayName == AppHostCollection.Name ? 1 : 0)
            .ThenBy(c => c.TestCollectionDisplayName, StringComparer.Ordinal)];
}
