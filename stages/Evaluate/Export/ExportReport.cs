namespace BottleneckPipeline.Evaluate.Export;

/// <summary>How the exported ONNX model agrees with the cached path (backbone vectors + head in C#).</summary>
public sealed record ExportReport(
    string Path,
    int Images,
    double ArgmaxAgreement,
    double MaxAbsProbabilityDifference,
    bool Passed,
    double RequiredAgreement,
    double AllowedProbabilityDifference);
