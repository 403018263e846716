namespace BottleneckPipeline.FineTune;

/// <summary>One epoch of the training log.</summary>
internal sealed record EpochRow(int Epoch, int Step, double TrainLoss, double TrainAccuracy, double ValidationLoss, double ValidationAccuracy,
    double Seconds, double ImagesPerSecond);
