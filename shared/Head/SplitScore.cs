namespace BottleneckPipeline.Head;

/// <summary>Plain cross-entropy (no smoothing, no L2) and accuracy of a head on one split.</summary>
public readonly record struct SplitScore(double Loss, double Accuracy)
{
    public static SplitScore None => new(double.NaN, double.NaN);
    public bool HasValue => !double.IsNaN(Loss);
}
