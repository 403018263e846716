using BottleneckPipeline.Artifacts;
using BottleneckPipeline.Cache;
using BottleneckPipeline.Config;
using BottleneckPipeline.Head;
using BottleneckPipeline.Metrics;
using BottleneckPipeline.Reporting;
using BottleneckPipeline.Training;

namespace BottleneckPipeline.TrainHead;

/// <summary>Where TrainHead writes: the head, its training log and its learning curve.</summary>
internal sealed record HeadOutputPaths(string HeadPath, string LogCsvPath, string CurvePngPath)
{
    /// <summary>The standard layout: workspace/head.msgpack, reports/training_log.csv, reports/learning_curve.png.</summary>
    public static HeadOutputPaths For(PipelineConfig config) => new(
        ArtifactPaths.Head(config),
        ArtifactPaths.TrainingLog(config),
        ArtifactPaths.LearningCurve(config));

    public bool AllExist => File.Exists(HeadPath) && File.Exists(LogCsvPath) && File.Exists(CurvePngPath);
}

/// <summary>
/// The TrainHead stage's work once the vectors are in memory: train, then write the log, the
/// curve and (last, so its presence means the rest is there) the head artifact.
/// </summary>
internal static class HeadTrainingRun
{
    /// <summary>True when a head trained on exactly these inputs exists with its log and curve, and its checksum
    /// vouches for it; a head that fails it is retrained, which <paramref name="onRepair"/> is told in one line.</summary>
    public static bool IsUpToDate(HeadOutputPaths paths, string inputsHash, string workspace = "", Action<string>? onRepair = null)
    {
        if (!paths.AllExist) return false;
        try
        {
            return HeadArtifact.Load(paths.HeadPath).InputsHash == inputsHash;
        }
        catch (DamagedArtifactException e)
        {
            onRepair?.Invoke(e.RepairLine("train-head", workspace, "retraining"));
            return false;
        }
    }

    /// <param name="inputsHash">see <see cref="InputsHash"/>; recorded in the head so a rerun can tell it is up to date.</param>
    public static (HeadArtifact Artifact, HeadTrainingResult Result) Run(
        LabelledVectors train, LabelledVectors? validation, TrainHeadConfig config,
        string backboneName, string backboneFingerprint, string inputsHash, HeadOutputPaths paths,
        HeadTrainingOptions? options = null, CancellationToken ct = default)
    {
        var result = HeadTrainer.Train(train, validation, config, options, ct);
        ct.ThrowIfCancellationRequested();
        TrainingLog.WriteCsv(paths.LogCsvPath, result.Log);
        LearningCurvePlot.SavePng(paths.CurvePngPath, result.Log, result.BestStep);
        var artifact = ToArtifact(result, config, backboneName, backboneFingerprint, inputsHash);
        artifact.Save(paths.HeadPath);
        return (artifact, result);
    }

    /// <summary>The head's inputs hash: the train_head section, the backbone, the upstream (cache + split) state
    /// and the rule that picks the kept step (a head chosen by another rule is out of date).</summary>
    public static string InputsHash(string trainHeadSectionHash, string backboneFingerprint, string upstreamHash) =>
        Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(
            $"train_head={trainHeadSectionHash}\nbackbone={backboneFingerprint}\nupstream={upstreamHash}\nbest={EarlyStopping.Rule}")));

    /// <summary>
    /// The whole TrainHead stage body: returns at once when the head is up to date (vectors are
    /// not even loaded), else loads the vectors, trains and writes everything.
    /// </summary>
    /// <param name="upstreamHash">a hash of the cache and split state the vectors come from.</param>
    /// <param name="loadVectors">reads the train and validation vectors (validation may be null or empty).</param>
    public static HeadStageOutcome Execute(PipelineConfig config, string backboneName, string backboneFingerprint, string upstreamHash,
        Func<(LabelledVectors Train, LabelledVectors? Validation)> loadVectors, HeadTrainingOptions? options = null, CancellationToken ct = default)
    {
        var paths = HeadOutputPaths.For(config);
        var sectionHash = config.SectionHashes.TryGetValue("train_head", out var h) ? h : "none";
        var hash = InputsHash(sectionHash, backboneFingerprint, upstreamHash);
        if (IsUpToDate(paths, hash, config.Workspace, Console.WriteLine)) return new HeadStageOutcome(true, paths, null, null, "TrainHead: up to date");
        var (train, validation) = loadVectors();
        var (artifact, result) = Run(train, validation, config.TrainHead, backboneName, backboneFingerprint, hash, paths, options, ct);
        var summary = FormattableString.Invariant(
            $"TrainHead: {train.Count} train / {validation?.Count ?? 0} validation vectors, {result.StepsRun} steps, best step {result.BestStep}, ") +
            (result.Validation.HasValue ? FormattableString.Invariant($"validation accuracy {100 * result.Validation.Accuracy:0.0}%") : "no validation split") +
            $"; head {paths.HeadPath}";
        return new HeadStageOutcome(false, paths, artifact, result, summary, ChanceWarning(validation, result));
    }

    /// <summary>The check Evaluate repeats for the model it ships (<see cref="ChanceCheck"/>), on the head's kept step.</summary>
    private static string? ChanceWarning(LabelledVectors? validation, HeadTrainingResult result)
    {
        if (validation is not { Count: > 0 } || !result.Validation.HasValue) return null;
        var counts = new int[validation.LabelNames.Length];
        foreach (var label in validation.Labels) counts[label]++;
        var correct = (int)Math.Round(result.Validation.Accuracy * validation.Count);
        return ChanceCheck.Warning("the head", Accuracy.Of(correct, validation.Count), counts, validation.LabelNames);
    }

    internal static HeadArtifact ToArtifact(HeadTrainingResult result, TrainHeadConfig config, string backboneName, string backboneFingerprint,
        string inputsHash) => new()
        {
            LabelNames = result.Head.LabelNames,
            Dimension = result.Head.Dimension,
            Weights = result.Head.Weights,
            Bias = result.Head.Bias,
            BackboneName = backboneName,
            BackboneFingerprint = backboneFingerprint,
            TrainingConfigJson = HeadArtifact.ConfigJson(config),
            InputsHash = inputsHash,
            Metrics = new HeadMetrics
            {
                TrainLoss = result.Train.Loss,
                TrainAccuracy = result.Train.Accuracy,
                ValidationLoss = result.Validation.Loss,
                ValidationAccuracy = result.Validation.Accuracy,
                BestStep = result.BestStep,
                StepsRun = result.StepsRun,
                StepsPlanned = result.StepsPlanned,
                StoppedEarly = result.StoppedEarly,
            },
        };
}

/// <summary>What <see cref="HeadTrainingRun.Execute"/> did; Summary is the stage's one-line output.</summary>
/// <param name="Warning">the head's validation accuracy is not clearly above always answering the largest class; null when it is.</param>
internal sealed record HeadStageOutcome(bool UpToDate, HeadOutputPaths Paths, HeadArtifact? Artifact, HeadTrainingResult? Result, string Summary,
    string? Warning = null);
