namespace BottleneckPipeline.FineTune;

/// <summary>One image FineTune trains or validates on: its content, label (in the head's order) and file.</summary>
internal sealed record FineTuneExample(string ContentId, int Label, string Path, string RelPath);
