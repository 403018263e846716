using BottleneckPipeline.Cache;
using BottleneckPipeline.Config;
using BottleneckPipeline.Index;
using BottleneckPipeline.Runtime;

namespace BottleneckPipeline.Head;

/// <summary>
/// The head's view of the data, the one reader TrainHead, Evaluate and the bench use: each split's
/// examples from the index with their vectors from the cache of the backbone Extract last ran.
/// Conflicts (unless dataset.include_conflicts) and quarantined images are left out. Rows are
/// labelled in the index's label order, or in the head's for evaluation. The cache is read once,
/// on the first split loaded.
/// </summary>
public sealed class SplitVectors(PipelineConfig config, IndexDb db, string fingerprint)
{
    private BottleneckCache? _cache;
    private string[]? _indexLabels;

    /// <summary>The reader for the vectors reports/extract.json names.</summary>
    public static SplitVectors Open(PipelineConfig config, IndexDb db) => new(config, db, ExtractReport.Read(config).Fingerprint);

    /// <summary>The index's label names, in label id order.</summary>
    public string[] IndexLabelNames => _indexLabels ??= ReadLabelNames();

    public LabelledVectors Train() => Load("train", IndexLabelNames);

    public LabelledVectors Validation() => Load("validation", IndexLabelNames);

    /// <param name="labelNames">the label order to use: the head's for evaluation; default the index's.</param>
    public LabelledVectors Test(string[]? labelNames = null) => Load("test", labelNames ?? IndexLabelNames);

    private string[] ReadLabelNames()
    {
        var names = new List<string>();
        using var cmd = db.Command("SELECT name FROM classes ORDER BY label_id;");
        using var r = cmd.ExecuteReader();
        while (r.Read()) names.Add(r.GetString(0));
        if (names.Count == 0) throw new InputException($"the index {db.Path} has no classes. Run the Ingest stage first (make ingest).");
        return [.. names];
    }

    private LabelledVectors Load(string split, string[] labelNames)
    {
        var cache = _cache ??= BottleneckCache.Open(config.CacheDir, fingerprint);
        var labelIds = LabelIndex.Of(labelNames);
        var rows = new List<float[]>();
        var labels = new List<int>();
        var ids = new List<string>();
        var paths = new List<string>();
        var missing = new List<string>();
        using var cmd = db.Command("""
            SELECT e.content_id, e.class, e.rel_path FROM examples e
            WHERE e.split = $split AND ($conflicts OR e.conflict = 0)
              AND e.content_id NOT IN (SELECT content_id FROM quarantine)
            ORDER BY e.content_id, e.class;
            """);
        cmd.Parameters.AddWithValue("$split", split);
        cmd.Parameters.AddWithValue("$conflicts", config.Dataset.IncludeConflicts);
        using var r = cmd.ExecuteReader();
        while (r.Read())
        {
            var (id, cls, rel) = (r.GetString(0), r.GetString(1), r.GetString(2));
            if (!labelIds.TryGetValue(cls, out var label))
                throw new InputException($"{rel} has class '{cls}', which the head does not know ({string.Join(", ", labelNames)}). Re-run TrainHead on the current index.");
            var vector = cache.Get(id);
            if (vector is null) { missing.Add(rel); continue; }
            rows.Add(vector);
            labels.Add(label);
            ids.Add(id);
            paths.Add(rel);
        }
        if (missing.Count > 0)
            throw new InputException($"{missing.Count} {split} image(s) have no cached vector for backbone {cache.Fingerprint} (first: {missing[0]}). Run the Extract stage (make extract).");
        return new LabelledVectors(rows, [.. labels], labelNames, [.. ids], [.. paths], cache.Dimension > 0 ? cache.Dimension : null);
    }
}
