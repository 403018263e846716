using BottleneckPipeline.Backbones;
using Microsoft.ML.OnnxRuntime;
using Onnx;

namespace BottleneckPipeline.Quantization;

/// <summary>
/// The float graph that gets quantized: Extract's own edit of the backbone (the bottleneck as its
/// only output, a dynamic batch), then ONNX Runtime's basic optimizations saved back as plain ONNX
/// (batch normalization folded into the convolutions, constants folded, identities removed). A
/// Conv must meet its quantized input directly: a BatchNormalization between Conv and Q would stop
/// the int8 fusion. Basic level only: higher levels write ONNX Runtime's own fused operators.
/// </summary>
internal static class FloatGraph
{
    public static ModelProto Optimized(BackboneSpec spec)
    {
        var (bytes, _) = BackboneSession.EditedModel(spec, makeBatchDynamic: true);
        var dir = Directory.CreateTempSubdirectory("bp-quantize-");
        try
        {
            var path = Path.Combine(dir.FullName, "optimized.onnx");
            using (var options = new SessionOptions { GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_BASIC, OptimizedModelFilePath = path })
            using (new InferenceSession(bytes, options)) { }
            using var stream = File.OpenRead(path);
            return ModelProto.Parser.ParseFrom(stream);
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }
}
