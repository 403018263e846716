using BottleneckPipeline.Config;

namespace BottleneckPipeline.Artifacts;

/// <summary>
/// Every file a stage writes into a workspace, named in this one place: each writer and reader asks
/// here for its path, and `make clean` removes exactly <see cref="All"/>, so a file cannot be written
/// under one name and cleaned under another.
/// </summary>
public static class ArtifactPaths
{
    // Ingest: the index (with SQLite's side files) and its report.
    public static string Index(PipelineConfig config) => config.IndexPath;
    public static string IngestReport(PipelineConfig config) => Report(config, "ingest.json");

    // Extract.
    public static string ExtractReport(PipelineConfig config) => Report(config, "extract.json");

    // TrainHead.
    public static string Head(PipelineConfig config) => Path.Combine(config.Workspace, "head.msgpack");
    public static string TrainingLog(PipelineConfig config) => Report(config, "training_log.csv");
    public static string LearningCurve(PipelineConfig config) => Report(config, "learning_curve.png");

    // Audit: the data doctor's findings (read back by Evaluate's page through DatasetIssues).
    public static string DatasetIssues(PipelineConfig config) => Report(config, "dataset_issues.json");

    // FineTune: the fine-tuned network in its own folder (the manifest is written last), and its reports.
    public static string FineTuneDirectory(PipelineConfig config) => Path.Combine(config.Workspace, "fine_tune");
    public static string TunedManifest(PipelineConfig config) => Path.Combine(FineTuneDirectory(config), "fine_tuned.json");
    public static string TunedBackbone(PipelineConfig config) => Path.Combine(FineTuneDirectory(config), TunedBackboneFile);
    public static string TunedHead(PipelineConfig config) => Path.Combine(FineTuneDirectory(config), TunedHeadFile);
    public static string FineTuneCheckpoint(PipelineConfig config) => Path.Combine(FineTuneDirectory(config), "checkpoint.bin");
    public static string FineTuneReport(PipelineConfig config) => Report(config, "fine_tune.json");
    public static string FineTuneLog(PipelineConfig config) => Report(config, "fine_tune_log.csv");
    public static string FineTuneCurve(PipelineConfig config) => Report(config, "fine_tune_curve.png");

    /// <summary>The fine-tuned network's file names inside <see cref="FineTuneDirectory"/>, as its manifest records them.</summary>
    public const string TunedBackboneFile = "backbone.onnx";
    public const string TunedHeadFile = "head.msgpack";

    // Evaluate: the shipped model and the reports.
    public static string Model(PipelineConfig config) => Path.Combine(config.Workspace, "model.onnx");
    public static string EvaluationJson(PipelineConfig config) => Report(config, "evaluation.json");
    public static string EvaluationMarkdown(PipelineConfig config) => Report(config, "evaluation.md");
    public static string EvaluationPage(PipelineConfig config) => Report(config, "evaluation.html");
    public static string ConfusionMatrix(PipelineConfig config) => Report(config, "confusion_matrix.png");

    // StageHost: which config the workspace belongs to (WorkspaceOwner). Last in All(): a clean cut
    // short keeps the workspace its owner's.
    public static string Owner(PipelineConfig config) => Path.Combine(config.Workspace, "owner.json");

    /// <summary>Every file above (the lock's files aside). A test runs the whole pipeline and checks that
    /// `make clean` leaves none of its files behind, so an artifact missing here is caught.</summary>
    public static IReadOnlyList<string> All(PipelineConfig config) =>
    [
        Index(config), Index(config) + "-wal", Index(config) + "-shm", Index(config) + "-journal",
        IngestReport(config),
        ExtractReport(config),
        Head(config), TrainingLog(config), LearningCurve(config),
        DatasetIssues(config),
        TunedManifest(config), TunedBackbone(config), TunedHead(config), FineTuneCheckpoint(config),
        FineTuneReport(config), FineTuneLog(config), FineTuneCurve(config),
        Model(config), EvaluationJson(config), EvaluationMarkdown(config), EvaluationPage(config), ConfusionMatrix(config),
        Owner(config),
    ];

    private static string Report(PipelineConfig config, string name) => Path.Combine(config.ReportsDir, name);
}
