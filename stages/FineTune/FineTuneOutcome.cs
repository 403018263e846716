using BottleneckPipeline.TunedNetwork;

namespace BottleneckPipeline.FineTune;

/// <summary>What one FineTune run did; Summary is the stage's one-line output.</summary>
public sealed record FineTuneOutcome(bool UpToDate, TunedNetworkManifest Model, FineTuneSummary? Summary, string Line);
