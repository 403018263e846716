using System.Text.Json;
using BottleneckPipeline.Artifacts;
using BottleneckPipeline.Config;
using BottleneckPipeline.Head;
using BottleneckPipeline.Reporting;
using BottleneckPipeline.Runtime;

namespace BottleneckPipeline.FineTune;

/// <summary>What one FineTune run did: the content of reports/fine_tune.json.</summary>
public sealed class FineTuneSummary
{
    public string Trainable { get; set; } = "";
    public string CutTensor { get; set; } = "";
    public long[] CutShape { get; set; } = [];
    public long TrainableWeights { get; set; }
    public int TrainImages { get; set; }
    public int ValidationImages { get; set; }
    public string? PrefixFingerprint { get; set; }
    public int PrefixComputed { get; set; }
    public int PrefixReused { get; set; }
    public double PrefixSeconds { get; set; }
    public long PrefixBytesPerView { get; set; }
    public int ResumedAfterEpoch { get; set; }
    public double StartValidationLoss { get; set; } = double.NaN;
    public double StartValidationAccuracy { get; set; } = double.NaN;
    public int BestEpoch { get; set; }
    public bool StoppedEarly { get; set; }
    public double TrainingSeconds { get; set; }
    public double Seconds { get; set; }
    /// <summary>The process's peak resident memory so far, in MB of 2^20 bytes, as the bench and /usr/bin/time count them
    /// (batch size and trainable depth drive it).</summary>
    public double PeakMemoryMb { get; set; }
    public string BackboneFingerprint { get; set; } = "";
    public IReadOnlyList<EpochRow> Log { get; set; } = [];
}

/// <summary>
/// FineTune's reports: reports/fine_tune.json, the per-epoch log as reports/fine_tune_log.csv (the
/// format of TrainHead's training_log.csv, one row per epoch at its last step) and its learning curve
/// as reports/fine_tune_curve.png.
/// </summary>
public static class FineTuneReport
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
