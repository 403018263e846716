namespace BottleneckPipeline.FineTune;

/// <summary>One epoch of the training log.</summary>
public sealed record EpochRow(int Epoch, int Step, double TrainLoss, double TrainAccuracy, double ValidationLoss, double ValidationAccuracy,
    double Seconds, double ImagesPerSecond);
