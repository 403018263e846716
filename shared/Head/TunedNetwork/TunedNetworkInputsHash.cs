using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using BottleneckPipeline.Artifacts;
using BottleneckPipeline.Cache;
using BottleneckPipeline.Config;
using BottleneckPipeline.Head;

namespace BottleneckPipeline.TunedNetwork;

/// <summary>
/// The inputs hash FineTune records in its manifest: the fine_tune section (but 'enabled', which
/// decides whether the model is used, not what it is), the head TrainHead trained (its own inputs
/// hash covers train_head, the backbone, the cache and the splits) and Extract's inputs hash.
/// Equal hash: the fine-tuned model on disk is current. Evaluate compares it too, so a manifest
/// left from an earlier configuration is never scored.
/// </summary>
public static class TunedNetworkInputsHash
{
    /// <summary>The hash for the workspace as it is now, or null when TrainHead or Extract has not run.</summary>
    public static string? TryHash(PipelineConfig config)
    {
        if (ExtractReport.TryRead(config) is not { } extract || !File.Exists(ArtifactPaths.Head(config))) return null;
        HeadArtifact head;
        try { head = HeadArtifact.Load(ArtifactPaths.Head(config)); }
        catch (Runtime.PipelineException) { return null; } // missing, or failing its checksum: the stage that reads it says so
        return Hash(config.FineTune, head.InputsHash, extract.InputsHash);
    }

    public static string Hash(FineTuneConfig fineTune, string headInputsHash, string extractInputsHash)
    {
        var section = JsonSerializer.SerializeToNode(fineTune)!.AsObject();
        section.Remove(nameof(FineTuneConfig.Enabled));
        var text = $"fine_tune={section.ToJsonString()}\nhead={headInputsHash}\nextract={extractInputsHash}\nformat={TunedNetworkManifest.CurrentFormat}";
        return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text)))[..16];
    }
}
