using System.Text.Json.Serialization;
using BottleneckPipeline.Config;
using BottleneckPipeline.Runtime;

namespace BottleneckPipeline.Artifacts;

/// <summary>What one Extract run did; also the content of reports/extract.json.</summary>
/// <param name="Shards">What the shards (Extract --shard) that ran before this run reported, when any did.</param>
/// <param name="Health">What the check of the run's vectors measured (Cache.VectorHealth).</param>
public sealed record ExtractSummary(
    bool UpToDate, int Extracted, int Reused, int Quarantined, long Decoded, double Seconds, double ImagesPerSecond,
    string Fingerprint, int Dimension, string Backbone, string InputsHash, ShardTotals? Shards = null, VectorHealthFigures? Health = null);

/// <summary>The shard summaries a finishing Extract read, added up.</summary>
/// <param name="Summaries">shard runs that reported (one per shard that finished).</param>
/// <param name="Counts">the shard counts they were run with ("4", or "2,4" for a mis-set mix).</param>
/// <param name="LongestSeconds">the slowest shard's run time: the parallel part's duration.</param>
/// <param name="ImagesPerSecond">the mean of the shards' own rates: what one shard (one machine) reached.</param>
public sealed record ShardTotals(int Summaries, string Counts, int Extracted, int Quarantined, int EmbeddedByOthers, long Decoded,
    double LongestSeconds, double ImagesPerSecond);

/// <summary>What Cache.VectorHealth.Measure found over a sample of vectors; written to extract.json.</summary>
/// <param name="Vectors">Vectors measured.</param>
/// <param name="NonFinite">Vectors holding a NaN or an infinite value.</param>
/// <param name="AllZero">Vectors whose every value is 0.</param>
/// <param name="MedianNorm">The median Euclidean norm (of the finite vectors).</param>
/// <param name="MeanCosineDistance">The mean of 1 - cos over every pair of finite vectors with a norm;
/// null with fewer than two. 0 when every vector points the same way.</param>
/// <param name="Spread">How far the vectors lie from their mean, as a share of how long they are:
/// sqrt(mean |x - mean|²) / sqrt(mean |x|²); 0 when every vector is the same, null with fewer than two.
/// Recorded, not judged: vectors nearly the same also point the same way, which the cosine distance
/// judges, and it also catches vectors that differ only in length.</param>
public sealed record VectorHealthFigures(
    int Vectors, int Dimension, int NonFinite, int AllZero, double MedianNorm, double? MeanCosineDistance, double? Spread);

/// <summary>
/// reports/extract.json, Extract's artifact, read and written only here: which backbone's vectors
/// in the cache are current (fingerprint, dimension), and the inputs hash that later stages fold
/// into theirs.
/// </summary>
public static class ExtractReport
{
    /// <summary>The file, key for key: the summary less whether it was up to date, plus where the cache is and its precision.</summary>
    private sealed record Contents
    {
        public required int Extracted { get; init; }
        public required int Reused { get; init; }
        public required int Quarantined { get; init; }
        public long Decoded { get; init; } // absent from reports written before it was counted
        public required double Seconds { get; init; }
        public required double ImagesPerSecond { get; init; }
        public required string Fingerprint { get; init; }
        public required int Dimension { get; init; }
        public required string Backbone { get; init; }
        public string CacheDir { get; init; } = "";
        public string Precision { get; init; } = "";
        public required string InputsHash { get; init; }
        [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public VectorHealthFigures? VectorHealth { get; init; }
        [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public ShardTotals? Shards { get; init; }
    }

    /// <summary>
    /// What the last Extract run recorded (its fingerprint, dimension and inputs hash): how later
    /// stages learn which vectors to read without resolving the backbone again. A report that fails
    /// its checksum is refused (exit 3): Extract writes it again.
    /// </summary>
    public static ExtractSummary Read(PipelineConfig config) =>
        TryRead(config) ?? throw new InputException($"{ArtifactPaths.ExtractReport(config)} is missing. Run the Extract stage first (make extract).");

    /// <summary>What to do about a damaged extract.json: Extract checks the cache and writes it again.</summary>
    public const string Advice = "run make extract: Extract checks the cache and writes it again";

    /// <summary>The report, or null when there is none; a <see cref="DamagedArtifactException"/> when its checksum
    /// does not vouch for it (Extract's up-to-date check catches that and runs).</summary>
    public static ExtractSummary? TryRead(PipelineConfig config)
    {
        var path = ArtifactPaths.ExtractReport(config);
        if (!File.Exists(path)) return null;
        var c = ReportJson.Read<Contents>(path, Advice);
        return new ExtractSummary(false, c.Extracted, c.Reused, c.Quarantined, c.Decoded, c.Seconds, c.ImagesPerSecond,
            c.Fingerprint, c.Dimension, c.Backbone, c.InputsHash, c.Shards, c.VectorHealth);
    }

    public static void Write(PipelineConfig config, ExtractSummary s) =>
        ReportJson.Write(ArtifactPaths.ExtractReport(config), new Contents
        {
            Extracted = s.Extracted,
            Reused = s.Reused,
            Quarantined = s.Quarantined,
            Decoded = s.Decoded,
            Seconds = Math.Round(s.Seconds, 3),
            ImagesPerSecond = Math.Round(s.ImagesPerSecond, 2),
            Fingerprint = s.Fingerprint,
            Dimension = s.Dimension,
            Backbone = s.Backbone,
            CacheDir = config.CacheDir,
            Precision = config.Cache.Precision == VectorPrecision.Float16 ? "float16" : "float32",
            InputsHash = s.InputsHash,
            VectorHealth = s.Health,
            Shards = s.Shards is { } t ? t with { LongestSeconds = Math.Round(t.LongestSeconds, 3), ImagesPerSecond = Math.Round(t.ImagesPerSecond, 2) } : null,
        });
}
