using BottleneckPipeline.Cache;
using BottleneckPipeline.Config;
using BottleneckPipeline.Index;
using BottleneckPipeline.Head;
using BottleneckPipeline.Runtime;

namespace BottleneckPipeline.TrainHead;

/// <summary>
/// The TrainHead stage: the train and validation vectors named by the index, read from the cache
/// that Extract's report points at, fitted by <see cref="HeadTrainingRun"/>. Up to date (and
/// instant) when neither the train_head section nor Extract's inputs changed.
/// </summary>
public static class TrainHeadStage
{
    public static readonly string[] Sections = ["train_head"];

    public static HeadStageOutcome Run(PipelineConfig config, IndexDb db, CancellationToken ct = default)
    {
        var extract = ExtractReport.Read(config);
        return HeadTrainingRun.Execute(config, extract.Backbone, extract.Fingerprint, extract.InputsHash, () =>
        {
            var labels = SplitVectors.LabelNames(db);
            var cache = BottleneckCache.Open(config.CacheDir, extract.Fingerprint);
            var include = config.Dataset.IncludeConflicts;
            var train = SplitVectors.Load(db, cache, "train", labels, include);
            var validation = SplitVectors.Load(db, cache, "validation", labels, include);
            if (train.Count == 0) throw EmptyTrainSplit(config, db);
            return (train, validation.Count > 0 ? validation : null);
        }, ct: ct);
    }

    /// <summary>Why no train vector is left, from the index: no example falls in train at all (the
    /// split percentages leave too little for so few images), or all of them are left out.</summary>
    private static InputException EmptyTrainSplit(PipelineConfig config, IndexDb db)
    {
        using var cmd = db.Command("""
            SELECT COUNT(*),
                   COALESCE(SUM(split = 'train'), 0),
                   COALESCE(SUM(split = 'train' AND conflict = 1), 0),
                   COALESCE(SUM(split = 'train' AND content_id IN (SELECT content_id FROM quarantine)), 0)
            FROM examples;
            """);
        using var r = cmd.ExecuteReader();
        r.Read();
        var (all, train, conflicts, quarantined) = (r.GetInt64(0), r.GetInt64(1), r.GetInt64(2), r.GetInt64(3));
        var d = config.Dataset;
        if (d.IncludeConflicts) conflicts = 0;
        var cause = train == 0
            ? FormattableString.Invariant($"none of the index's {all} examples falls in it: dataset.validation_percent ({d.ValidationPercent}) and dataset.test_percent ({d.TestPercent}) leave {100 - d.ValidationPercent - d.TestPercent:0.##}% for training. Add images, or lower those percentages in {config.SourcePath}")
            : FormattableString.Invariant($"all {train} train examples are left out: {quarantined} quarantined by Extract (unreadable, changed or deleted images) and {conflicts} label conflicts (dataset.include_conflicts is off). Fix or replace those images, or add others");
        return new InputException($"the train split of {db.Path} is empty, so there is nothing to train the head on: {cause}; then run make again.");
    }
}
