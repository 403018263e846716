using BottleneckPipeline.Config;

namespace BottleneckPipeline.FineTuning;

/// <summary>
/// Every file FineTune writes into the workspace, by name: its artifact in fine_tune/ (the manifest
/// and the two files it names, plus the epoch checkpoint while a run is unfinished) and its three
/// reports. `make clean` removes exactly these.
/// </summary>
public static class FineTuneFiles
{
    public const string BackboneFile = "backbone.onnx";
    public const string HeadFile = "head.msgpack";
    public const string CheckpointFile = "checkpoint.bin";

    public static string ReportPathIn(PipelineConfig config) => Path.Combine(config.ReportsDir, "fine_tune.json");
    public static string LogPathIn(PipelineConfig config) => Path.Combine(config.ReportsDir, "fine_tune_log.csv");
    public static string CurvePathIn(PipelineConfig config) => Path.Combine(config.ReportsDir, "fine_tune_curve.png");
    public static string CheckpointPathIn(PipelineConfig config) => Path.Combine(FineTunedModel.DirectoryIn(config), CheckpointFile);

    public static IReadOnlyList<string> PathsIn(PipelineConfig config) =>
    [
        FineTunedModel.ManifestPathIn(config),
        Path.Combine(FineTunedModel.DirectoryIn(config), BackboneFile),
        Path.Combine(FineTunedModel.DirectoryIn(config), HeadFile),
        CheckpointPathIn(config),
        ReportPathIn(config),
        LogPathIn(config),
        CurvePathIn(config),
    ];
}
