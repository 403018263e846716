using BottleneckPipeline.Cache;
using BottleneckPipeline.Config;
using BottleneckPipeline.Index;
using BottleneckPipeline.Head;

namespace BottleneckPipeline.TrainHead;

/// <summary>
/// The TrainHead stage: the train and validation vectors named by the index, read from the cache
/// that Extract's report points at, fitted by <see cref="HeadTrainingRun"/>. Up to date (and
/// instant) when neither the train_head section nor Extract's inputs changed.
/// </summary>
public static class TrainHeadStage
{
    public static readonly string[] Sections = ["train_head"];

    public static HeadStageOutcome Run(PipelineConfig config, IndexDb db)
    {
        var extract = ExtractReport.Read(config);
        return HeadTrainingRun.Execute(config, extract.Backbone, extract.Fingerprint, extract.InputsHash, () =>
        {
            var labels = SplitVectors.LabelNames(db);
            var cache = BottleneckCache.Open(config.CacheDir, extract.Fingerprint);
            var include = config.Dataset.IncludeConflicts;
            var train = SplitVectors.Load(db, cache, "train", labels, include);
            RequireEveryClass(db, train, include);
            var validation = SplitVectors.Load(db, cache, "validation", labels, include);
            return (train, validation.Count > 0 ? validation : null);
        });
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
        using var cmd = db.Command("""
            SELECT COUNT(*),
                   COALESCE(SUM(split = 'train'), 0),
                   COALESCE(SUM(conflict), 0),
                   COALESCE(SUM(content_id IN (SELECT content_id FROM quarantine)), 0)
            FROM examples WHERE class = $c;
            """);
        cmd.Parameters.AddWithValue("$c", cls);
        using var r = cmd.ExecuteReader();
        r.Read();
        var (all, train, conflicts, quarantined) = (r.GetInt64(0), r.GetInt64(1), r.GetInt64(2), r.GetInt64(3));
        var why = $"{all} image(s), {train} in the train split";
        if (!includeConflicts && conflicts > 0) why += $", {conflicts} of them label conflicts (the same bytes under another class)";
        if (quarantined > 0) why += $", {quarantined} quarantined by Extract";
        return why;
    }
}
