namespace BottleneckPipeline.Tests.Fixtures;

/// <summary>Where the repository and the read-only ../shared data folder are, seen from a test.</summary>
public static class RepoPaths
{
    public static string Root { get; } = FindRoot();

    /// <summary>The data and tools folder beside the checkout (not the project's shared/ library).</summary>
    public static string SharedData => Path.GetFullPath(Path.Combine(Root, "..", "shared"));

    public static string Flowers => Path.Combine(SharedData, "datasets", "flower_photos");

    public static string InceptionZeroWeights => Path.Combine(SharedData, "models", "inception_v3.torchvision.zero-weights.onnx");

    private static string FindRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "BottleneckPipeline.sln"))) dir = dir.Parent;
        return dir?.FullName ?? throw new InvalidOperationException("cannot find BottleneckPipeline.sln above " + AppContext.BaseDirectory);
    }
}
