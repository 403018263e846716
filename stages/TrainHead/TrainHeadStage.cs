using BottleneckPipeline.Artifacts;
using BottleneckPipeline.Cache;
using BottleneckPipeline.Config;
using BottleneckPipeline.Head;
using BottleneckPipeline.Index;
using BottleneckPipeline.Runtime;

namespace BottleneckPipeline.TrainHead;

/// <summary>
/// The TrainHead stage: the train and validation vectors named by the index, read from the cache
/// that Extract's report points at, fitted by <see cref="HeadTrainingRun"/>, less the images
/// dataset.exclude names. Up to date (and instant) when neither the train_head section, Extract's
/// inputs nor the excluded images changed.
/// </summary>
internal static class TrainHeadStage
{
    public static readonly string[] Sections = ["train_head"];

    /// <param name="excluded">the images dataset.exclude leaves out; default: the config's list, resolved against the index.</param>
    public static HeadStageOutcome Run(PipelineConfig config, IndexDb db, CancellationToken ct = default, ExcludedImages? excluded = null)
    {
        var extract = ExtractReport.Read(config);
        var vectors = new SplitVectors(config, db, extract.Fingerprint) { Excluded = excluded ?? ExcludedImages.Of(config, db) };
        return HeadTrainingRun.Execute(config, extract.Backbone, extract.Fingerprint, extract.InputsHash + vectors.Excluded.HashLine, () =>
        {
            // One pass over the cache for both splits, holding only their vectors (float16 past a budget).
            var (train, validation) = vectors.TrainAndValidation();
            if (train.Count == 0) throw EmptyTrainSplit(config, db);
            RequireEveryClass(db, train, config.Dataset.IncludeConflicts);
            return (train, validation.Count > 0 ? validation : null);
        }, ct: ct);
    }

    /// <summary>Why no train vector is left, from the index: no example falls in train at all (the
    /// split percentages leave too little for so few images), or all of them are left out.</summary>
    private static InputException EmptyTrainSplit(PipelineConfig config, IndexDb db)
    {
        var (all, train, _, _, conflicts, quarantined) = CountExamples(db, cls: null);
        var d = config.Dataset;
        if (d.IncludeConflicts) conflicts = 0;
        var cause = train == 0
            ? FormattableString.Invariant($"none of the index's {all} examples falls in it: dataset.validation_percent ({d.ValidationPercent}) ") +
              FormattableString.Invariant($"and dataset.test_percent ({d.TestPercent}) leave {100 - d.ValidationPercent - d.TestPercent:0.##}% ") +
              $"for training. Add images, or lower those percentages in {config.SourcePath}"
            : FormattableString.Invariant($"all {train} train examples are left out: {quarantined} quarantined by Extract ") +
              "(unreadable, changed or deleted images) " +
              FormattableString.Invariant($"and {conflicts} label conflicts (dataset.include_conflicts is off). Fix or replace those images, or add others");
        return new InputException($"the train split of {db.Path} is empty, so there is nothing to train the head on: {cause}; then run make again.");
    }

    /// <summary>
    /// A class with no training vector would be an output the head can never predict: a model that
    /// silently cannot be right on a whole class. Refused, naming the class and what left it empty.
    /// </summary>
    internal static void RequireEveryClass(IndexDb db, LabelledVectors train, bool includeConflicts)
    {
        var byClass = train.IndicesByClass();
        var empty = Enumerable.Range(0, train.ClassCount).Where(i => byClass[i].Length == 0).Select(i => train.LabelNames[i]).ToList();
        if (empty.Count == 0) return;
        var why = string.Join("; ", empty.Select(c => $"class '{c}': {TrainSplitOf(db, c, includeConflicts)}"));
        throw new Runtime.InputException(
            $"{empty.Count} class(es) have no training example, so the head could never predict them ({why}). " +
            "Add images to those class folders (or remove the folders), then run Ingest again; reports/ingest.json lists the conflicts.");
    }

    /// <summary>What the class holds and what was kept out of training, for the message.</summary>
    private static string TrainSplitOf(IndexDb db, string cls, bool includeConflicts)
    {
        var (all, train, conflicts, quarantined, _, _) = CountExamples(db, cls);
        var why = $"{all} image(s), {train} in the train split";
        if (!includeConflicts && conflicts > 0) why += $", {conflicts} of them label conflicts (the same bytes under another class)";
        if (quarantined > 0) why += $", {quarantined} quarantined by Extract";
        return why;
    }

    /// <summary>The index's examples (of one class, or all when <paramref name="cls"/> is null): how many,
    /// how many in train, and how many are label conflicts or quarantined, overall and within train.</summary>
    private static (long All, long Train, long Conflicts, long Quarantined, long TrainConflicts, long TrainQuarantined) CountExamples(IndexDb db, string? cls)
    {
        using var cmd = db.Command("""
            SELECT COUNT(*),
                   COALESCE(SUM(split = 'train'), 0),
                   COALESCE(SUM(conflict), 0),
                   COALESCE(SUM(quarantined), 0),
                   COALESCE(SUM(split = 'train' AND conflict = 1), 0),
                   COALESCE(SUM(split = 'train' AND quarantined), 0)
            FROM (SELECT split, conflict, content_id IN (SELECT content_id FROM quarantine) AS quarantined
                  FROM examples WHERE $c IS NULL OR class = $c);
            """);
        cmd.Parameters.AddWithValue("$c", (object?)cls ?? DBNull.Value);
        using var r = cmd.ExecuteReader();
        r.Read();
        return (r.GetInt64(0), r.GetInt64(1), r.GetInt64(2), r.GetInt64(3), r.GetInt64(4), r.GetInt64(5));
    }
}
