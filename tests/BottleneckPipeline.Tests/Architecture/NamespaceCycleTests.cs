using System.Reflection;
using BottleneckPipeline.Tests.Fixtures;

namespace BottleneckPipeline.Tests.Architecture;

/// <summary>
/// No two namespaces of the shipped assemblies (every library under shared/ and every stage) depend
/// on each other, directly or round a longer loop: dependencies run one way, so each namespace can be
/// read, tested and moved on its own. Dependencies are read from the compiled IL.
/// </summary>
public class NamespaceCycleTests
{
    private static readonly Assembly[] Shipped = ShippedAssemblies.All;

    [Fact]
    public void Every_library_and_stage_is_covered()
    {
        var names = Shipped.Select(a => a.GetName().Name).ToHashSet();
        Assert.Superset(new HashSet<string?> { "BottleneckPipeline.Core", "BottleneckPipeline.Training", "Ingest", "FineTune", "Evaluate" }, names);
        Assert.True(Shipped.Length >= 11, $"only {Shipped.Length} assemblies: {string.Join(", ", names)}");
    }

    [Fact]
    public void No_namespaces_depend_on_each_other()
    {
        var graph = DependencyGraph(Shipped);
        Assert.True(graph.Count >= 15, $"only {graph.Count} namespaces found: {string.Join(", ", graph.Keys)}"); // the scan saw the code
        Assert.Contains("BottleneckPipeline.Runtime", graph["BottleneckPipeline.Hosting"].Keys); // and its dependencies
        var cycles = Cycles(graph);
        Assert.True(cycles.Count == 0, "namespace cycles:\n" + string.Join("\n", cycles));
    }

    /// <summary>namespace -> namespaces it uses -> one example use, for the message.</summary>
    private static Dictionary<string, Dictionary<string, string>> DependencyGraph(Assembly[] assemblies)
    {
        var graph = new Dictionary<string, Dictionary<string, string>>(StringComparer.Ordinal);
        foreach (var type in assemblies.SelectMany(a => a.GetTypes()).Where(t => !IsCompilerHelper(t)))
        {
            var from = NamespaceOf(type);
            var uses = graph.TryGetValue(from, out var u) ? u : graph[from] = new(StringComparer.Ordinal);
            foreach (var used in TypeReferences.Of(type).Where(t => assemblies.Contains(t.Assembly) && !IsCompilerHelper(t)))
            {
                var to = NamespaceOf(used);
                if (to != from) uses.TryAdd(to, $"{type.FullName} uses {used.FullName}");
            }
        }
        return graph;
    }

    /// <summary>Types the compiler adds to an assembly's global namespace for everyone's use (collection
    /// expressions' &lt;&gt;z__ReadOnlyArray, &lt;PrivateImplementationDetails&gt;): part of no namespace.</summary>
    private static bool IsCompilerHelper(Type t)
    {
        while (t.DeclaringType is { } outer) t = outer;
        return t.Namespace is null && t.Name.StartsWith('<');
    }

    // Top-level statements (a stage's Program) live in the global namespace of their assembly.
    private static string NamespaceOf(Type t) => t.Namespace ?? $"<global:{t.Assembly.GetName().Name}>";

    /// <summary>One loop per strongly connected group of namespaces, each step with the use that makes it.</summary>
    private static List<string> Cycles(Dictionary<string, Dictionary<string, string>> graph)
    {
        var cycles = new List<string>();
        var reported = new HashSet<string>(StringComparer.Ordinal);
        foreach (var start in graph.Keys.Order(StringComparer.Ordinal))
        {
            if (reported.Contains(start) || PathBetween(graph, start, start) is not { } loop) continue;
            reported.UnionWith(loop);
            var steps = loop.Zip(loop.Skip(1), (a, b) => $"  {a} -> {b} ({graph[a][b]})");
            cycles.Add(string.Join("\n", steps));
        }
        return cycles;
    }

    /// <summary>The shortest chain of namespaces from one to another (at least one step), or null.</summary>
    private static List<string>? PathBetween(Dictionary<string, Dictionary<string, string>> graph, string from, string to)
    {
        var previous = new Dictionary<string, string>(StringComparer.Ordinal);
        var queue = new Queue<string>(graph[from].Keys.Order(StringComparer.Ordinal));
        foreach (var n in queue) previous[n] = from;
        while (queue.Count > 0)
        {
            var n = queue.Dequeue();
            if (n == to)
            {
                var path = new List<string> { to };
                for (var at = previous[to]; at != from; at = previous[at]) path.Add(at);
                path.Add(from);
                path.Reverse();
                return path;
            }
            foreach (var next in graph.GetValueOrDefault(n)?.Keys.Order(StringComparer.Ordinal) ?? Enumerable.Empty<string>())
                if (previous.TryAdd(next, n)) queue.Enqueue(next);
        }
        return null;
    }
}
