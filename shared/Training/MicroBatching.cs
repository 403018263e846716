namespace BottleneckPipeline.Training;

/// <summary>
/// How many examples one run of a depth's training graph takes (<see cref="TrainingSession.MicroBatch"/>). Training every
/// layer keeps the whole network's activations (and its backward pass's window matrices) for the batch: at batch 32 that
/// peaked at 3.6 GB, at 8 a run at 1.3-1.5 GB, at the same step time measured side by side (2026-11-29, shared cores).
/// The last two stages' step peaked at 1.77 GB whole while it kept its convolutions' window matrices for the backward pass;
/// gathering them again there (<see cref="ConvWindowLifetime.Recompute"/>) it peaks at 1.09 GB whole, at 1.15x the rate of
/// runs of 16 (0.84 GB), so it runs whole, as the last stage does (0.71 GB; 2026-11-29).
/// </summary>
public static class MicroBatching
{
    public const int AllLayers = 8;

    public static int For(TrainableDepth depth) => depth == TrainableDepth.All ? AllLayers : 0;
}
