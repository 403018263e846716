using System.Text.Json;
using BottleneckPipeline.Artifacts;
using BottleneckPipeline.Config;
using BottleneckPipeline.Head;
using BottleneckPipeline.Reporting;
using BottleneckPipeline.Runtime;

namespace BottleneckPipeline.FineTune;

/// <summary>
/// FineTune's reports: reports/fine_tune.json, the per-epoch log as reports/fine_tune_log.csv (the
/// format of TrainHead's training_log.csv, one row per epoch at its last step) and its learning curve
/// as reports/fine_tune_curve.png.
/// </summary>
internal static class FineTuneReportWriter
{
    public static string PathIn(PipelineConfig config) => ArtifactPaths.FineTuneReport(config);
    public static string LogPathIn(PipelineConfig config) => ArtifactPaths.FineTuneLog(config);
    public static string CurvePathIn(PipelineConfig config) => ArtifactPaths.FineTuneCurve(config);

    private static readonly JsonSerializerOptions JsonOptions = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        WriteIndented = true,
        NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    public static void Write(PipelineConfig config, FineTuneSummary summary)
    {
        var rows = summary.Log.Select(r => new TrainingLogRow(r.Step, r.TrainLoss, r.TrainAccuracy, r.ValidationLoss, r.ValidationAccuracy)).ToList();
        TrainingLog.WriteCsv(LogPathIn(config), rows);
        if (rows.Count > 0)
            LearningCurvePlot.SavePng(CurvePathIn(config), rows, summary.Log.FirstOrDefault(r => r.Epoch == summary.BestEpoch)?.Step ?? 0,
                title: $"Fine-tuning ({summary.Trainable}): loss (left) and accuracy (right), one point per epoch");
        AtomicFile.WriteAllBytes(PathIn(config), JsonSerializer.SerializeToUtf8Bytes(summary, JsonOptions));
    }
}
