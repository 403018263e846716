using BottleneckPipeline.TunedNetwork;

namespace BottleneckPipeline.FineTune;

/// <summary>
/// What one FineTune run did: whether it found the network up to date, the manifest of the network now on disk,
/// the run's report (null when up to date) and Line, the stage's one-line output.
/// </summary>
internal sealed record FineTuneOutcome(bool UpToDate, TunedNetworkManifest Model, FineTuneSummary? Summary, string Line);
