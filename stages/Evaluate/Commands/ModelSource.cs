using BottleneckPipeline.Artifacts;
using BottleneckPipeline.Config;
using BottleneckPipeline.Hosting;

namespace BottleneckPipeline.Evaluate.Commands;

/// <summary>Which model.onnx a command scores with: --model alone needs no config; otherwise the config's workspace
/// holds the model, and the workspace must be that config's.</summary>
internal static class ModelSource
{
    public static (PipelineConfig? Config, string ModelPath) Resolve(string? model, string configPath)
    {
        if (model is not null) return (null, model);
        var config = ConfigLoader.Load(configPath);
        WorkspaceOwner.Check(config);
        return (config, ArtifactPaths.Model(config));
    }
}
