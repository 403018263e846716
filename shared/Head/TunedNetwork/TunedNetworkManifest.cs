using System.Text.Json;
using BottleneckPipeline.Artifacts;
using BottleneckPipeline.Config;
using BottleneckPipeline.Runtime;

namespace BottleneckPipeline.TunedNetwork;

/// <summary>
/// FineTune's artifact, written and read only here: the fine-tuned backbone (an ONNX model with the
/// original's input and bottleneck tensor names, so it embeds through the same code as any backbone
/// and its vectors get their own fingerprint in the cache) and the head trained with it (a
/// <see cref="Head.HeadArtifact"/> file). The manifest is written last, so its presence means both
/// files are complete.
/// </summary>
/// <param name="BackboneFile">File name of the fine-tuned backbone, inside <see cref="DirectoryIn"/>.</param>
/// <param name="HeadFile">File name of the fine-tuned head (HeadArtifact), inside <see cref="DirectoryIn"/>.</param>
/// <param name="BaseBackboneFingerprint">Fingerprint of the backbone that was fine-tuned (the one Extract used).</param>
/// <param name="BackboneFingerprint">Fingerprint of the fine-tuned backbone: its vectors sit in the cache under this.</param>
/// <param name="Trainable">last-stage, last-2-stages or all.</param>
/// <param name="InputsHash">Hash of everything FineTune read; equal hash means the fine-tuned model is up to date.</param>
public sealed record TunedNetworkManifest(
    int Format,
    string BackboneFile,
    string HeadFile,
    string BaseBackboneFingerprint,
    string BackboneFingerprint,
    string Trainable,
    string InputsHash,
    int EpochsRun,
    double ValidationAccuracy)
{
    public const int CurrentFormat = 1;

    /// <summary>InputsHash of the head (head.msgpack) FineTune started from; "" when not recorded.
    /// Evaluate ignores a fine-tuned model whose head was retrained since (new data, split or
    /// train_head settings), as it ignores one of another backbone.</summary>
    public string BaseHeadInputsHash { get; init; } = "";


    public string BackbonePathIn(PipelineConfig config) => Path.Combine(ArtifactPaths.FineTuneDirectory(config), BackboneFile);
    public string HeadPathIn(PipelineConfig config) => Path.Combine(ArtifactPaths.FineTuneDirectory(config), HeadFile);

    private static readonly JsonSerializerOptions JsonOptions = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        WriteIndented = true,
    };

    /// <summary>Writes the manifest atomically; call it only after both files it names are durable.</summary>
    public void Save(PipelineConfig config) =>
        AtomicFile.WriteAllBytes(ArtifactPaths.TunedManifest(config), JsonSerializer.SerializeToUtf8Bytes(this, JsonOptions));

    /// <summary>The fine-tuned model, or null when FineTune has not run (or was turned off and cleaned).</summary>
    public static TunedNetworkManifest? TryLoad(PipelineConfig config)
    {
        var path = ArtifactPaths.TunedManifest(config);
        if (!File.Exists(path)) return null;
        TunedNetworkManifest? model;
        try
        {
            model = JsonSerializer.Deserialize<TunedNetworkManifest>(File.ReadAllBytes(path), JsonOptions);
        }
        catch (JsonException e)
        {
            throw new InputException($"the fine-tune manifest {path} is unreadable ({e.Message}): re-run FineTune (make fine-tune).", e);
        }
        if (model is null || model.Format != CurrentFormat)
            throw new InputException($"the fine-tune manifest {path} has format {model?.Format}, this version reads {CurrentFormat}: re-run FineTune (make fine-tune).");
        foreach (var file in new[] { model.BackbonePathIn(config), model.HeadPathIn(config) })
            if (!File.Exists(file))
                throw new InputException($"the fine-tune manifest {path} names {file}, which is missing: re-run FineTune (make fine-tune).");
        return model;
    }
}
