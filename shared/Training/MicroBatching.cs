namespace BottleneckPipeline.Training;

/// <summary>
/// How many examples one run of a depth's training graph takes (<see cref="TrainingSession.MicroBatch"/>). Training every
/// layer keeps the whole network's activations (and its backward pass's window matrices) for the batch: at batch 32 that
/// peaked at 3.6 GB, at 8 a run at 1.3-1.5 GB, at the same step time measured side by side (2026-11-29, shared cores).
/// The last two stages' step peaked at 1.77 GB whole, which with the rest of a FineTune run (the validation session,
/// the checkpoint's copies) came to 2.48 GB; in runs of 16 it peaks at 1.18 GB at 0.97x the step rate (8: 0.88 GB,
/// 0.87x; quiet cores, 2026-11-29). The last stage fits whole batches (1.0 GB at 32; its run, 1.58 GB).
/// </summary>
public static class MicroBatching
{
    public const int AllLayers = 8;
    public const int LastTwoStages = 16;

    public static int For(TrainableDepth depth) => depth switch
    {
        TrainableDepth.All => AllLayers,
        TrainableDepth.LastTwoStages => LastTwoStages,
        _ => 0,
    };
}
