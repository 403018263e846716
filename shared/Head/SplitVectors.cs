using BottleneckPipeline.Cache;
using BottleneckPipeline.Index;
using BottleneckPipeline.Runtime;

namespace BottleneckPipeline.Head;

/// <summary>
/// The head's view of the data: one split's examples from the index, labelled in the index's label
/// order, with their vectors from the cache. Conflicts (unless included) and quarantined images are
/// left out.
/// </summary>
public static class SplitVectors
{
    public static string[] LabelNames(IndexDb db)
    {
        var names = new List<string>();
        using var cmd = db.Command("SELECT name FROM classes ORDER BY label_id;");
        using var r = cmd.ExecuteReader();
        while (r.Read()) names.Add(r.GetString(0));
        if (names.Count == 0) throw new InputException($"the index {db.Path} has no classes. Run the Ingest stage first (make ingest).");
        return [.. names];
    }

    /// <param name="labelNames">the label order to use (the index's for training, the head's for evaluation).</param>
    public static LabelledVectors Load(IndexDb db, BottleneckCache cache, string split, string[] labelNames, bool includeConflicts)
    {
        var labelIds = labelNames.Select((n, i) => (n, i)).ToDictionary(x => x.n, x => x.i, StringComparer.Ordinal);
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
        cmd.Parameters.AddWithValue("$conflicts", includeConflicts);
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
