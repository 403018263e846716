namespace BottleneckPipeline.Evaluate.Export;

/// <summary>How the exported ONNX model agrees with the cached path (backbone vectors + head in C#).</summary>
/// <param name="Network">which network model.onnx is: "head only" (the original backbone and the head) or the fine-tuned model's name.</param>
/// <param name="ModelSha256">SHA-256 of model.onnx as Evaluate wrote it: its up-to-date check re-exports a model.onnx that no longer matches.</param>
internal sealed record ExportReport(
    string Path,
    int Images,
    double ArgmaxAgreement,
    double MaxAbsProbabilityDifference,
    bool Passed,
    double RequiredAgreement,
    double AllowedProbabilityDifference,
    string Network = "head only",
    string ModelSha256 = "")
{
    /// <summary>The share of images on which model.onnx's unknown flag equals the pipeline's; null when it carries no unknown rule.</summary>
    public double? UnknownAgreement { get; init; }
}
