using BottleneckPipeline.Head;

namespace BottleneckPipeline.Training;

/// <summary>
/// Early stopping for both trainers (TrainHead every eval_interval steps, FineTune every epoch), by
/// one rule: a validation score is better than the best so far when its accuracy is higher, or its
/// accuracy is equal and its loss lower. Accuracy is what a model is judged and shipped by; on a
/// small validation split it moves in whole images and often ties, and the loss breaks the tie.
/// Each evaluation is passed to <see cref="Observe"/>: a better one becomes the best (its weights are
/// the ones to keep), and after `patience` evaluations in a row without a better one training stops
/// (patience 0: never early). Without a validation split every evaluation counts as better, so the
/// last weights are kept.
/// </summary>
public sealed class EarlyStopping(int patience)
{
    /// <summary>The rule in words, for reports and for the inputs hash of what it chose.</summary>
    public const string Rule = SplitScore.Rule;

    /// <summary>Evaluations in a row without a better score before training stops; 0 never stops early.</summary>
    public int Patience { get; } = patience >= 0 ? patience : throw new ArgumentOutOfRangeException(nameof(patience));

    /// <summary>The best validation score so far (<see cref="SplitScore.None"/> before any, or without validation).</summary>
    public SplitScore Best { get; private set; } = SplitScore.None;

    /// <summary>The step or epoch of the best score; 0 before any evaluation.</summary>
    public int BestAt { get; private set; }

    /// <summary>Evaluations since the best one.</summary>
    public int WithoutImprovement { get; private set; }

    /// <summary>Whether training should stop: `patience` evaluations in a row were no better than the best.</summary>
    public bool ShouldStop => Patience > 0 && WithoutImprovement >= Patience;

    /// <summary>The rule: higher accuracy wins; at equal accuracy, lower loss. Anything beats no score.</summary>
    public static bool IsBetter(SplitScore candidate, SplitScore best) => candidate.IsBetterThan(best);

    /// <summary>Records the evaluation at <paramref name="at"/>; true when it is the new best, whose weights the caller keeps.</summary>
    /// <param name="validation">The validation split's score, or <see cref="SplitScore.None"/> without one.</param>
    public bool Observe(int at, SplitScore validation)
    {
        if (!validation.HasValue || IsBetter(validation, Best))
        {
            (Best, BestAt, WithoutImprovement) = (validation, at, 0);
            return true;
        }
        WithoutImprovement++;
        return false;
    }

    /// <summary>The state a checkpoint recorded (<see cref="Best"/>, <see cref="BestAt"/>, <see cref="WithoutImprovement"/>).</summary>
    public static EarlyStopping Restore(int patience, SplitScore best, int bestAt, int withoutImprovement) =>
        new(patience) { Best = best, BestAt = bestAt, WithoutImprovement = withoutImprovement };
}
