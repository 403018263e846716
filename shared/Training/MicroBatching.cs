namespace BottleneckPipeline.Training;

/// <summary>
/// How many examples one run of a depth's training graph takes (<see cref="TrainingSession.MicroBatch"/>). Training every
/// layer keeps the whole network's activations (and its backward pass's window matrices) for the batch: at batch 32 that
/// peaked at 3.6 GB, at 8 a run at 1.3-1.5 GB, at the same step time measured side by side (2026-11-29, shared cores).
/// The shallower depths fit whole batches (0.7 and 1.0 GB at 32).
/// </summary>
public static class MicroBatching
{
    public const int AllLayers = 8;

    public static int For(TrainableDepth depth) => depth == TrainableDepth.All ? AllLayers : 0;
}
