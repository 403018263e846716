namespace BottleneckPipeline.FineTune;

/// <summary>What <see cref="Checkpoint.TryLoad"/> found: the state to resume from, or none, and why a checkpoint
/// on disk was not used (the run's one line about it; null when there was none, or it was used).</summary>
internal sealed record CheckpointLoad(TrainingState? State, string? Discarded);
