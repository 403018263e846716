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

    /// <summary>SHA-256 of <see cref="BackboneFile"/> as FineTune wrote it; "" in a manifest from before it was recorded.</summary>
    public string BackboneSha256 { get; init; } = "";

    /// <summary>SHA-256 of <see cref="HeadFile"/> (its own checksum included) as FineTune wrote it; "" when not recorded.</summary>
    public string HeadSha256 { get; init; } = "";

    public string BackbonePathIn(PipelineConfig config) => Path.Combine(ArtifactPaths.FineTuneDirectory(config), BackboneFile);
    public string HeadPathIn(PipelineConfig config) => Path.Combine(ArtifactPaths.FineTuneDirectory(config), HeadFile);

    /// <summary>What to do about a damaged fine-tuned network: FineTune sees it fail its checksum and trains it again.</summary>
    public static string Advice(PipelineConfig config) =>
        "re-run FineTune (make fine-tune), which fine-tunes again when a file of it fails its checksum, " +
        $"or delete {ArtifactPaths.FineTuneDirectory(config)} to evaluate the head alone";

    private static readonly JsonSerializerOptions JsonOptions = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        WriteIndented = true,
    };

    /// <summary>Writes the manifest atomically with its checksum (<see cref="JsonChecksum"/>); call it only after both
    /// files it names are durable.</summary>
    public void Save(PipelineConfig config) =>
        AtomicFile.WriteAllText(ArtifactPaths.TunedManifest(config), JsonChecksum.Add(JsonSerializer.Serialize(this, JsonOptions)));

    /// <summary>The fine-tuned model, or null when FineTune has not run (or was turned off and cleaned). A manifest whose
    /// checksum does not vouch for it, or that names a missing file, is a <see cref="DamagedArtifactException"/>.</summary>
    public static TunedNetworkManifest? TryLoad(PipelineConfig config)
    {
        var path = ArtifactPaths.TunedManifest(config);
        if (!File.Exists(path)) return null;
        var text = JsonChecksum.ReadVerified(path, Advice(config));
        TunedNetworkManifest? model;
        try
        {
            model = JsonSerializer.Deserialize<TunedNetworkManifest>(text, JsonOptions);
        }
        catch (JsonException e)
        {
            throw new DamagedArtifactException(path, ArtifactFault.OtherFormat, Advice(config), e);
        }
        if (model is null || model.Format != CurrentFormat) throw new DamagedArtifactException(path, ArtifactFault.OtherFormat, Advice(config));
        foreach (var file in new[] { model.BackbonePathIn(config), model.HeadPathIn(config) })
            if (!File.Exists(file)) throw new DamagedArtifactException(file, ArtifactFault.Missing, Advice(config));
        return model;
    }

    /// <summary>
    /// Checks the backbone and head files against the SHA-256 this manifest records for them (hashing the
    /// backbone's tens of MB: a few tens of ms); a <see cref="DamagedArtifactException"/> naming the file
    /// that fails, or that has no record (a manifest from before they were recorded).
    /// </summary>
    public void VerifyFiles(PipelineConfig config)
    {
        foreach (var (file, recorded) in new[] { (BackbonePathIn(config), BackboneSha256), (HeadPathIn(config), HeadSha256) })
        {
            if (!File.Exists(file)) throw new DamagedArtifactException(file, ArtifactFault.Missing, Advice(config));
            if (recorded.Length == 0) throw new DamagedArtifactException(file, ArtifactFault.Unverifiable, Advice(config));
            if (Sha256.OfFile(file) != recorded) throw new DamagedArtifactException(file, ArtifactFault.Damaged, Advice(config));
        }
    }
}
