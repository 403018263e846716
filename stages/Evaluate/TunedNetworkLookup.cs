using BottleneckPipeline.Artifacts;
using BottleneckPipeline.Backbones;
using BottleneckPipeline.Config;
using BottleneckPipeline.Head;
using BottleneckPipeline.Runtime;
using BottleneckPipeline.TunedNetwork;

namespace BottleneckPipeline.Evaluate;

/// <summary>FineTune's network as Evaluate weighs it against the head alone: the fine-tuned backbone resolved like any backbone, and its head.</summary>
internal sealed record TunedNetworkCandidate(TunedNetworkManifest Model, BackboneSpec Spec, HeadArtifact Head, string HeadPath)
{
    /// <summary>How reports and closing lines name it, e.g. "fine-tuned (last-stage)".</summary>
    public string Name => $"fine-tuned ({Model.Trainable})";
}

/// <summary>
/// Whether Evaluate weighs FineTune's network against the head alone. It does when fine_tune.enabled
/// is on (or make fine-tune asks) and the manifest is current: made from the backbone Extract used
/// and from the head TrainHead last trained. One made from another backbone or head is ignored with
/// a note, not refused: switching the backbone and running plain make must still work, and switching
/// back finds it current again. A manifest, backbone or head whose checksum fails (damaged or replaced)
/// is refused, with the advice to re-run FineTune, which then fine-tunes again.
/// </summary>
internal sealed record TunedNetworkLookup(TunedNetworkCandidate? InUse, string? Note)
{
    public static readonly TunedNetworkLookup None = new(null, null);

    /// <summary>As <see cref="For"/>, but with fine_tune.enabled off and the run not asking for it, an existing network is left out with a note.</summary>
    /// <param name="considerAnyway">make fine-tune's request: weigh the network whatever fine_tune.enabled says.</param>
    public static TunedNetworkLookup ForRun(PipelineConfig config, string baseFingerprint, HeadArtifact head, bool considerAnyway)
    {
        if (config.FineTune.Enabled || considerAnyway) return For(config, baseFingerprint, head);
        return File.Exists(ArtifactPaths.TunedManifest(config))
            ? new(null, $"fine_tune.enabled is false, so the fine-tuned network in {ArtifactPaths.FineTuneDirectory(config)} is kept but not weighed; " +
                        "make fine-tune weighs it, or set fine_tune.enabled: true.")
            : None;
    }

    /// <param name="baseFingerprint">the fingerprint of the backbone the head-only vectors come from (Extract's).</param>
    /// <param name="head">the head-only head, trained on those vectors.</param>
    public static TunedNetworkLookup For(PipelineConfig config, string baseFingerprint, HeadArtifact head)
    {
        var model = TunedNetworkManifest.TryLoad(config);
        if (model is null) return None;
        var manifest = ArtifactPaths.TunedManifest(config);
        const string ignored = "ignored, so the head alone ships; run make fine-tune to fine-tune the current one";
        if (model.BaseBackboneFingerprint != baseFingerprint)
            return new(null, $"the fine-tuned model in {manifest} was made from backbone {model.BaseBackboneFingerprint}, " +
                             $"not the current {baseFingerprint}: {ignored}.");
        if (model.BaseHeadInputsHash.Length > 0 && model.BaseHeadInputsHash != head.InputsHash)
            return new(null, $"the fine-tuned model in {manifest} started from another head than {ArtifactPaths.Head(config)} " +
                             $"(TrainHead ran again since, on new data or settings): {ignored}.");

        // The fine_tune settings, the head and Extract's inputs it was made from (FineTune's own up-to-date hash).
        if (TunedNetworkInputsHash.TryHash(config) is { } current && current != model.InputsHash)
            return new(null, $"the fine-tuned model in {manifest} was made with other fine_tune settings or inputs " +
                             $"than {config.SourcePath} now gives: {ignored}.");

        // Both files as FineTune wrote them, by the SHA-256 the manifest records (a damaged one: exit 3, and FineTune rebuilds it).
        model.VerifyFiles(config);
        var original = BackboneFactory.Resolve(config);
        if (original.Fingerprint != baseFingerprint)
            throw new InputException($"the backbone in {config.SourcePath} (fingerprint {original.Fingerprint}) is not the one Extract used " +
                                     $"({baseFingerprint}). Run Extract again (make extract).");
        var backbonePath = model.BackbonePathIn(config);
        var spec = TunedBackbone.Resolve(config, original, backbonePath);
        if (spec.Fingerprint != model.BackboneFingerprint)
            throw new InputException($"{backbonePath} is not the fine-tuned backbone {manifest} records " +
                                     $"(fingerprint {spec.Fingerprint}, recorded {model.BackboneFingerprint}): it was changed or damaged. " +
                                     $"Re-run FineTune (make fine-tune), or delete {ArtifactPaths.FineTuneDirectory(config)} to evaluate the head alone.");
        var headPath = model.HeadPathIn(config);
        var fineTunedHead = HeadArtifact.Read(headPath, TunedNetworkManifest.Advice(config));
        fineTunedHead.EnsureBackbone(spec.Fingerprint, headPath);
        if (!fineTunedHead.LabelNames.SequenceEqual(head.LabelNames))
            return new(null, $"the fine-tuned head {headPath} has other classes ({string.Join(", ", fineTunedHead.LabelNames)}) " +
                             $"than {ArtifactPaths.Head(config)}: {ignored}.");
        return new(new TunedNetworkCandidate(model, spec, fineTunedHead, headPath), null);
    }
}
