using BottleneckPipeline.Backbones;
using BottleneckPipeline.Config;

namespace BottleneckPipeline.Backbones;

/// <summary>
/// The fine-tuned backbone as a <see cref="BackboneSpec"/>, resolved exactly as a user-supplied
/// backbone is (file bytes, input size, layout, normalization, resize, bottleneck tensor), so its
/// fingerprint is computed the one way every backbone's is and its vectors sit in the cache beside
/// the original's. FineTune records this fingerprint in the manifest; Evaluate recomputes it to
/// check that the file is the one FineTune wrote.
/// </summary>
public static class TunedBackbone
{
    /// <param name="modelPath">the fine-tuned backbone ONNX (the original's input and bottleneck tensor names).</param>
    public static BackboneSpec Resolve(PipelineConfig config, string modelPath) => Resolve(config, BackboneFactory.Resolve(config), modelPath);

    /// <param name="original">the configured backbone, already resolved (it is hashed once).</param>
    public static BackboneSpec Resolve(PipelineConfig config, BackboneSpec original, string modelPath)
    {
        var b = config.Backbone;
        // Every setting pinned to what the original resolved to, so only the model bytes can differ.
        var settings = new BackboneConfig
        {
            Name = b.Name,
            Onnx = modelPath,
            InputSize = original.InputSize,
            Layout = original.Layout,
            Normalization = b.Normalization,
            Mean = b.Mean,
            Std = b.Std,
            Bottleneck = original.BottleneckTensor,
        };
        return BackboneFactory.Resolve(settings, config.Extract.Resize);
    }
}
