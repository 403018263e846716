namespace BottleneckPipeline.Training;

/// <summary>
/// How many examples one run of a depth's training graph takes (<see cref="TrainingSession.MicroBatch"/>). Training every
/// layer keeps the whole network's activations for the batch, several times what the last stages keep, so it runs in
/// micro-batches of 8, which measured the same step time as the whole batch at a fraction of the memory; the last one or
/// two stages run whole batches, which fit well under the 2 GB a FineTune run may use (bench/results.md, area fine-tune).
/// </summary>
public static class MicroBatching
{
    public const int AllLayers = 8;

    public static int For(TrainableDepth depth) => depth == TrainableDepth.All ? AllLayers : 0;
}
