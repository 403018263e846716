using System.Reflection;
using System.Reflection.Metadata;
using System.Reflection.PortableExecutable;
using System.Text.RegularExpressions;
using BottleneckPipeline.Runtime;

namespace BottleneckPipeline.Tests.Architecture;

/// <summary>
/// A type is internal unless another shipped assembly needs it: a public type of a library (shared/) or of a stage
/// is used by some other library or stage. No assembly references a stage (what two stages share lives in a
/// library), so a stage exports nothing. The tests and the bench do not count: they see every internal type
/// through the InternalsVisibleTo that Directory.Build.props gives each project.
/// <para>
/// How a use is found: a compiled assembly names every type it takes from another assembly in its TypeRef table,
/// read here from the built files with System.Reflection.Metadata. That table holds the types the assembly's own
/// declarations mention (base types, interfaces, fields, signatures, attributes, generic arguments), the types its
/// code names (new, casts, typeof, locals), and the types in the signatures of the members it calls or reads. So a
/// type that an assembly only passes on (the return type of one call handed to another, never written in its
/// source) counts as used, as it must: the compiler needs it public there too. A nested type's reference names its
/// outer type, which counts as well. What the table cannot show is a constant, whose value the compiler copies
/// into the using assembly; so a type that offers nothing but constants (ExitCodes) is used when another shipped
/// project's source names it with a dot after it (ExitCodes.BadConfig).
/// </para>
/// </summary>
public class VisibilityTests
{
    private const string Advice =
        "Make them internal (the tests and the bench still see them). If a public member of a public type still "
        + "exposes one, make that member internal too, or move the use.";

    /// <summary>Assembly name -> full names (Outer+Inner for nested types) of its types that other shipped assemblies name.</summary>
    private static readonly Dictionary<string, HashSet<string>> Used = UsedAcross(ShippedAssemblies.All);

    [Fact]
    public void The_scan_sees_the_uses()
    {
        Assert.Contains("BottleneckPipeline.Config.PipelineConfig", Used["BottleneckPipeline.Core"]);
        Assert.Contains("BottleneckPipeline.Training.HeadTrainer", Used["BottleneckPipeline.Training"]); // TrainHead and Audit train heads
        Assert.True(OnlyConstants(typeof(ExitCodes)) && NamedInOtherSources(typeof(ExitCodes))); // the stages' exit codes
        Assert.True(Used.Values.Sum(u => u.Count) >= 50, $"only {Used.Values.Sum(u => u.Count)} uses found");
    }

    [Fact]
    public void Stages_export_nothing_and_reference_no_other_stage()
    {
        var stages = ShippedAssemblies.Stages.Select(a => a.GetName().Name!).ToHashSet();
        var links = ShippedAssemblies.All
            .SelectMany(a => a.GetReferencedAssemblies().Where(r => stages.Contains(r.Name!)).Select(r => $"{a.GetName().Name} -> {r.Name}"))
            .ToList();
        Assert.True(links.Count == 0, $"a stage referenced by another shipped assembly: {string.Join(", ", links)}. "
            + "Move what both use into a library under shared/.");
        var exported = ShippedAssemblies.Stages.Where(a => a.GetExportedTypes().Length > 0)
            .ToDictionary(a => a.GetName().Name!, a => a.GetExportedTypes().Select(t => t.FullName!).Order(StringComparer.Ordinal).ToList());
        Assert.True(exported.Count == 0,
            "public types in stage assemblies (a stage is an executable: nothing links it but the tests and the bench):\n"
            + $"{Listing(exported)}\n{Advice}");
    }

    [Fact]
    public void Libraries_export_only_what_another_assembly_uses()
    {
        var offenders = Unused(ShippedAssemblies.Libraries);
        Assert.True(offenders.Count == 0,
            $"public types in libraries that no stage or other library uses:\n{Listing(offenders)}\n{Advice}");
    }

    private static Dictionary<string, List<string>> Unused(IEnumerable<Assembly> assemblies) =>
        assemblies
            .Select(a => (Name: a.GetName().Name!, Types: a.GetExportedTypes()
                .Where(t => !(Used.TryGetValue(a.GetName().Name!, out var used) && used.Contains(t.FullName!)))
                .Where(t => !(OnlyConstants(t) && NamedInOtherSources(t)))
                .Select(t => t.FullName!)
                .Order(StringComparer.Ordinal)
                .ToList()))
            .Where(a => a.Types.Count > 0)
            .ToDictionary(a => a.Name, a => a.Types);

    /// <summary>A type whose public members are all constants, which other assemblies read without naming the type in their metadata.</summary>
    private static bool OnlyConstants(Type t)
    {
        var members = t.GetMembers(BindingFlags.Public | BindingFlags.Static | BindingFlags.Instance | BindingFlags.DeclaredOnly);
        return members.Length > 0 && members.All(m => m is FieldInfo { IsLiteral: true });
    }

    /// <summary>Whether the C# source of another shipped project names the type followed by a dot, as a constant's use does.</summary>
    private static bool NamedInOtherSources(Type t)
    {
        var use = new Regex($@"\b{Regex.Escape(t.Name)}\s*\.", RegexOptions.CultureInvariant);
        return ShippedAssemblies.All.Where(a => a != t.Assembly).Any(a => use.IsMatch(Sources.Value[a]));
    }

    /// <summary>Each shipped assembly's C# source, all its files together.</summary>
    private static readonly Lazy<Dictionary<Assembly, string>> Sources = new(() => ShippedAssemblies.All.ToDictionary(
        a => a,
        a => string.Join("\n", Directory.EnumerateFiles(ShippedAssemblies.FolderOf(a), "*.cs", SearchOption.AllDirectories).Select(File.ReadAllText))));

    private static string Listing(Dictionary<string, List<string>> offenders) =>
        string.Join("\n", offenders.Select(o => $"  {o.Key} ({o.Value.Count}): {string.Join(", ", o.Value)}"));

    private static Dictionary<string, HashSet<string>> UsedAcross(IEnumerable<Assembly> assemblies)
    {
        var used = new Dictionary<string, HashSet<string>>(StringComparer.Ordinal);
        foreach (var assembly in assemblies)
        {
            using var pe = new PEReader(File.OpenRead(assembly.Location));
            var md = pe.GetMetadataReader();
            foreach (var handle in md.TypeReferences)
            {
                // Outermost first: Outer, Outer+Inner, ... each of them used.
                var chain = new List<TypeReference>();
                var scope = (EntityHandle)handle;
                while (scope.Kind == HandleKind.TypeReference)
                {
                    var reference = md.GetTypeReference((TypeReferenceHandle)scope);
                    chain.Insert(0, reference);
                    scope = reference.ResolutionScope;
                }
                if (scope.Kind != HandleKind.AssemblyReference) continue; // a module's own type, or an exported forwarder
                var from = md.GetString(md.GetAssemblyReference((AssemblyReferenceHandle)scope).Name);
                var names = used.TryGetValue(from, out var n) ? n : used[from] = new(StringComparer.Ordinal);
                var ns = md.GetString(chain[0].Namespace);
                var name = ns.Length == 0 ? "" : ns + ".";
                for (var i = 0; i < chain.Count; i++)
                {
                    name += (i == 0 ? "" : "+") + md.GetString(chain[i].Name);
                    names.Add(name);
                }
            }
        }
        return used;
    }
}
