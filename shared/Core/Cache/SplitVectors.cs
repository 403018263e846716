using BottleneckPipeline.Artifacts;
using BottleneckPipeline.Cache;
using BottleneckPipeline.Config;
using BottleneckPipeline.Index;
using BottleneckPipeline.Runtime;

namespace BottleneckPipeline.Cache;

/// <summary>
/// The head's view of the data, the one reader TrainHead, Evaluate and the bench use: each split's
/// examples from the index with their vectors from the cache of the backbone Extract last ran.
/// Conflicts (unless dataset.include_conflicts), quarantined images and the images dataset.exclude
/// names (<see cref="ExcludedImages"/>) are left out. Rows are labelled in the index's label order,
/// or in the head's for evaluation.
/// <para>
/// Each load is one pass over the cache segments, which keeps only their keys: every vector goes
/// straight from its segment into its split's <see cref="VectorMatrix"/>, so memory is the loaded
/// splits' vectors (float16 past <see cref="Float32Budget"/>), never the whole cache. Load the
/// splits needed together (<see cref="TrainAndValidation"/>, <see cref="Load"/>) to read it once.
/// </para>
/// </summary>
public sealed class SplitVectors(PipelineConfig config, IndexDb db, string fingerprint)
{
    /// <summary>
    /// The vectors of one load are held as float32 up to this size (about 500,000 512-d vectors),
    /// as float16 beyond it: half the memory, so that 1 million vectors train in under 2 GB. A
    /// float16 keeps 11 significant bits; the head's accuracy does not move (bench: train-head-1m).
    /// </summary>
    public const long Float32Budget = 1L << 30;

    /// <summary>The size past which a load is held as float16; <see cref="Float32Budget"/> unless
    /// set (the bench sets 0 to set float16 beside float32 on the same vectors).</summary>
    public long MaxFloat32Bytes { get; init; } = Float32Budget;

    private string[]? _indexLabels;
    private ExcludedImages? _excluded;

    /// <summary>The images dataset.exclude leaves out of every split: the config's list resolved against the index, unless set.</summary>
    public ExcludedImages Excluded
    {
        get => _excluded ??= ExcludedImages.Of(config, db);
        init => _excluded = value;
    }

    /// <summary>The reader for the vectors reports/extract.json names.</summary>
    public static SplitVectors Open(PipelineConfig config, IndexDb db) => new(config, db, ExtractReport.Read(config).Fingerprint);

    /// <summary>The index's label names, in label id order.</summary>
    public string[] IndexLabelNames => _indexLabels ??= ReadLabelNames(db);

    public LabelledVectors Train() => Load(["train"])[0];

    public LabelledVectors Validation() => Load(["validation"])[0];

    /// <param name="labelNames">the label order to use: the head's for evaluation; default the index's.</param>
    public LabelledVectors Test(string[]? labelNames = null) => Load(["test"], labelNames)[0];

    /// <summary>Both training splits in one pass over the cache.</summary>
    public (LabelledVectors Train, LabelledVectors Validation) TrainAndValidation()
    {
        var sets = Load(["train", "validation"]);
        return (sets[0], sets[1]);
    }

    /// <summary>These splits, in this order, in one pass over the cache.</summary>
    /// <param name="labelNames">the label order to use; default the index's.</param>
    public LabelledVectors[] Load(string[] splits, string[]? labelNames = null) =>
        Load(db, config.CacheDir, fingerprint, splits, labelNames ?? IndexLabelNames, config.Dataset.IncludeConflicts, MaxFloat32Bytes, Excluded.ContentIds);

    private static string[] ReadLabelNames(IndexDb db)
    {
        var names = new List<string>();
        using var cmd = db.Command("SELECT name FROM classes ORDER BY label_id;");
        using var r = cmd.ExecuteReader();
        while (r.Read()) names.Add(r.GetString(0));
        if (names.Count == 0) throw new InputException($"the index {db.Path} has no classes. Run the Ingest stage first (make ingest).");
        return [.. names];
    }

    /// <summary>The loading itself, with the float32 budget open to tests.</summary>
    internal static LabelledVectors[] Load(IndexDb db, string cacheDir, string fingerprint, string[] splits, string[] labelNames,
                                           bool includeConflicts, long float32Budget = Float32Budget, IReadOnlySet<string>? excluded = null)
    {
        var labelIds = LabelIndex.Of(labelNames);
        var rows = splits.Select(s => ReadRows(db, s, labelIds, labelNames, includeConflicts, excluded)).ToArray();
        var total = rows.Sum(r => r.Count);

        // Every row of every split, numbered in order; an id's rows chained (one content under two
        // labels, when conflicts are included, is two rows).
        var split = new int[total];
        var local = new int[total];
        var next = new int[total];
        var firstRow = new Dictionary<ContentKey, int>(total);
        for (int s = 0, g = 0; s < splits.Length; s++)
            for (var i = 0; i < rows[s].Count; i++, g++)
            {
                (split[g], local[g]) = (s, i);
                var key = ContentKey.FromHex(rows[s].Ids[i]);
                next[g] = firstRow.TryGetValue(key, out var after) ? after : -1;
                firstRow[key] = g;
            }

        VectorMatrix[]? matrices = null;
        var filled = new bool[total];
        var cache = BottleneckCache.Open(cacheDir, fingerprint, loadVectors: false, onVector: (key, vector, bits) =>
        {
            if (!firstRow.TryGetValue(key, out var g)) return;
            if (matrices is null)
            {
                var dimension = vector.Length / (bits / 8);
                var half = (long)total * dimension * sizeof(float) > float32Budget;
                matrices = [.. rows.Select(r => new VectorMatrix(r.Count, dimension, half))];
            }
            for (; g >= 0; g = next[g])
            {
                matrices[split[g]].SetStored(local[g], vector, bits);
                filled[g] = true;
            }
        });

        var missing = Enumerable.Range(0, total).Where(g => !filled[g]).ToList();
        if (missing.Count > 0)
        {
            var first = rows[split[missing[0]]].Paths[local[missing[0]]];
            var which = string.Join(", ", missing.Select(g => splits[split[g]]).Distinct());
            throw new InputException($"{missing.Count} {which} image(s) have no cached vector for backbone {fingerprint} (first: {first}). " +
                                     "Run the Extract stage (make extract).");
        }
        return [.. rows.Select((r, s) =>
        {
            var m = matrices?[s] ?? (cache.Dimension > 0 ? new VectorMatrix(0, cache.Dimension, half: false) : null);
            return m is null
                ? new LabelledVectors([], [], labelNames, [], [], null) // no rows and no cache: says it needs a dimension
                : new LabelledVectors(m, [.. r.Labels], labelNames, [.. r.Ids], [.. r.Paths]);
        })];
    }

    private sealed record SplitRows(List<string> Ids, List<int> Labels, List<string> Paths)
    {
        public int Count => Ids.Count;
    }

    private static SplitRows ReadRows(IndexDb db, string split, IReadOnlyDictionary<string, int> labelIds, string[] labelNames, bool includeConflicts,
                                      IReadOnlySet<string>? excluded)
    {
        var rows = new SplitRows([], [], []);
        foreach (var (id, label, rel) in Members(db, split, labelIds, labelNames, includeConflicts, excluded))
        {
            rows.Ids.Add(id);
            rows.Labels.Add(label);
            rows.Paths.Add(rel);
        }
        return rows;
    }

    /// <summary>
    /// A split's examples as the head's training saw them, ordered by content id: label conflicts
    /// (unless included), images Extract quarantined and the <paramref name="excluded"/> contents
    /// (dataset.exclude) are left out; a class the head does not know is an error. FineTune reads
    /// its images through this too.
    /// </summary>
    public static IEnumerable<(string ContentId, int Label, string RelPath)> Members(
        IndexDb db, string split, IReadOnlyDictionary<string, int> labelIds, string[] labelNames, bool includeConflicts,
        IReadOnlySet<string>? excluded = null)
    {
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
            if (excluded is not null && excluded.Contains(id)) continue;
            if (!labelIds.TryGetValue(cls, out var label))
                throw new InputException($"{rel} has class '{cls}', which the head does not know ({string.Join(", ", labelNames)}). " +
                                         "Re-run TrainHead on the current index (make train-head).");
            yield return (id, label, rel);
        }
    }
}
