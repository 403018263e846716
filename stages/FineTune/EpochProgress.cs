namespace BottleneckPipeline.FineTune;

/// <summary>Progress inside an epoch, for the display: steps done of the epoch's steps.</summary>
internal readonly record struct EpochProgress(int Epoch, int Epochs, int StepsDone, int StepsPerEpoch, int ImagesDone);
