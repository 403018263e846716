namespace BottleneckPipeline.FineTune;

/// <summary>One cached activation: an example and which of its views.</summary>
internal readonly record struct ExampleView(FineTuneExample Example, int View);
