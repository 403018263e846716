namespace BottleneckPipeline.Evaluate;

/// <summary>
/// The fine-tuned model's result on the same test images as the head-only report it sits in
/// (evaluation.json's fine_tuned): what FineTune recorded, and the full report of its own.
/// </summary>
/// <param name="Name">e.g. "fine-tuned (last-stage)".</param>
/// <param name="Manifest">FineTune's manifest (fine_tune/fine_tuned.json) the model was read through.</param>
public sealed record FineTunedReport(
    string Name,
    string Trainable,
    int EpochsRun,
    double ValidationAccuracy,
    string BackboneFingerprint,
    string Manifest,
    EvaluationReport Report);
