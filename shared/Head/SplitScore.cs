namespace BottleneckPipeline.Head;

/// <summary>Plain cross-entropy (no smoothing, no L2) and accuracy of a head on one split.</summary>
public readonly record struct SplitScore(double Loss, double Accuracy)
{
    public static SplitScore None => new(double.NaN, double.NaN);
    public bool HasValue => !double.IsNaN(Loss);

    /// <summary>The one rule by which both trainers keep their best weights and Evaluate chooses the model to ship.</summary>
    public const string Rule = "higher validation accuracy, then lower validation loss";

    /// <summary>The rule: higher accuracy wins; at equal accuracy, lower loss. Anything beats no score.</summary>
    public bool IsBetterThan(SplitScore other) =>
        !other.HasValue || Accuracy > other.Accuracy || (Accuracy == other.Accuracy && Loss < other.Loss);
}
