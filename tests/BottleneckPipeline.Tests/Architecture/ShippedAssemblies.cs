using System.Reflection;
using BottleneckPipeline.Tests.Fixtures;

namespace BottleneckPipeline.Tests.Architecture;

/// <summary>
/// The shipped assemblies: every project under shared/ (the libraries) and stages/ (the executables), found from the
/// files, so a new one is covered without a list to keep. examples/ClassifyOne is left out: it references none of them
/// (it is the exported model with ONNX Runtime alone), and the tests build it without linking it.
/// </summary>
public static class ShippedAssemblies
{
    /// <summary>Each shipped assembly's project folder.</summary>
    private static readonly Dictionary<Assembly, string> Folders = Projects("shared").Concat(Projects("stages")).ToDictionary();

    public static Assembly[] Libraries { get; } = [.. Projects("shared").Select(p => p.Key)];

    public static Assembly[] Stages { get; } = [.. Projects("stages").Select(p => p.Key)];

    public static Assembly[] All { get; } = [.. Libraries, .. Stages];

    public static string FolderOf(Assembly assembly) => Folders[assembly];

    private static IEnumerable<KeyValuePair<Assembly, string>> Projects(string folder) =>
        Directory.EnumerateFiles(Path.Combine(RepoPaths.Root, folder), "*.csproj", SearchOption.AllDirectories)
            .Order(StringComparer.Ordinal)
            .Select(p => KeyValuePair.Create(Assembly.Load(Path.GetFileNameWithoutExtension(p)), Path.GetDirectoryName(p)!));
}
