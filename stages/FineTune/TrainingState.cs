using BottleneckPipeline.Training;

namespace BottleneckPipeline.FineTune;

/// <summary>
/// Everything a run needs to go on after an epoch as if it had never stopped: the weights, the
/// optimizer's state, the best epoch so far and its weights, the patience count and the log. The
/// random state is the epoch number: each epoch's generator is seeded by (seed, epoch).
/// </summary>
internal sealed class TrainingState
{
    public required string InputsHash { get; init; }
    public int EpochsDone { get; set; }
    public required float[] Weights { get; init; }
    public required float[][] OptimizerState { get; init; }
    public int OptimizerSteps { get; set; }
    public required float[] BestWeights { get; init; }
    /// <summary>The best epoch so far, its validation score and the epochs since it.</summary>
    public required EarlyStopping Stopping { get; init; }
    public int BestEpoch => Stopping.BestAt;
    public bool StoppedEarly { get; set; }
    public List<EpochRow> Log { get; init; } = [];
}
