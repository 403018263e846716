using BottleneckPipeline.Artifacts;
using BottleneckPipeline.Backbones;
using BottleneckPipeline.Config;
using BottleneckPipeline.Runtime;
using BottleneckPipeline.Training;
using Google.Protobuf;
using Onnx;

namespace BottleneckPipeline.FineTune;

/// <summary>
/// The fine-tuned backbone as one ONNX file: the original model with each trained initializer's
/// values replaced in place and nothing else touched (graph, names, the frozen weights' bytes), so
/// it embeds through the same code as any backbone. Its fingerprint comes from
/// TunedBackbone, the one resolution Evaluate checks it with.
/// </summary>
internal static class TunedBackboneWriter
{
    public const string FileName = ArtifactPaths.TunedBackboneFile;

    /// <param name="trained">Trained values by initializer name (the head's weights are not among them).</param>
    /// <returns>the SHA-256 of the file written, which the manifest records.</returns>
    public static string Write(ModelProto original, IReadOnlyDictionary<string, float[]> trained, string path)
    {
        var model = original.Clone();
        var initializers = model.Graph.Initializer;
        var replaced = 0;
        for (var i = 0; i < initializers.Count; i++)
        {
            if (!trained.TryGetValue(initializers[i].Name, out var values)) continue;
            var old = initializers[i];
            if (old.DataType != (int)TensorProto.Types.DataType.Float || values.LongLength != old.Dims.Aggregate(1L, (p, d) => p * d))
                throw new InvalidOperationException($"trained weight '{old.Name}' does not fit its initializer");
            initializers[i] = OnnxTensorData.MakeFloat(old.Name, values, [.. old.Dims]);
            replaced++;
        }
        if (replaced != trained.Count)
            throw new InvalidOperationException($"{trained.Count - replaced} trained weight(s) are not initializers of the backbone");
        var sha = "";
        AtomicFile.Write(path, stream =>
        {
            using var hashing = new HashingStream(stream);
            model.WriteTo(hashing);
            sha = Convert.ToHexStringLower(hashing.Hash());
        });
        return sha;
    }
}
