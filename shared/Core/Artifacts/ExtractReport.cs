using System.Text.Json;
using System.Text.Json.Nodes;
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



    /// <summary>
    /// What the last Extract run recorded (its fingerprint, dimension and inputs hash): how later
    /// stages learn which vectors to read without resolving the backbone again.
    /// </summary>
    public static ExtractSummary Read(PipelineConfig config) =>
        TryRead(config) ?? throw new InputException($"{ArtifactPaths.ExtractReport(config)} is missing or unreadable. Run the Extract stage first (make extract).");

    public static ExtractSummary? TryRead(PipelineConfig config)
    {
        var path = ArtifactPaths.ExtractReport(config);
        if (!File.Exists(path)) return null;
        try
        {
            var o = JsonNode.Parse(File.ReadAllText(path))!.AsObject();
            return new ExtractSummary(false, o["extracted"]!.GetValue<int>(), o["reused"]!.GetValue<int>(), o["quarantined"]!.GetValue<int>(),
                o["decoded"]?.GetValue<long>() ?? 0, o["seconds"]!.GetValue<double>(), o["images_per_second"]!.GetValue<double>(),
                o["fingerprint"]!.GetValue<string>(), o["dimension"]!.GetValue<int>(), o["backbone"]!.GetValue<string>(), o["inputs_hash"]!.GetValue<string>());
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException or NullReferenceException or FormatException or IOException)
        {
            return null; // an unreadable report is simply redone
        }
    }

    public static void Write(PipelineConfig config, ExtractSummary s)
    {
        var o = new JsonObject
        {
            ["extracted"] = s.Extracted,
            ["reused"] = s.Reused,
            ["quarantined"] = s.Quarantined,
            ["decoded"] = s.Decoded,
            ["seconds"] = Math.Round(s.Seconds, 3),
            ["images_per_second"] = Math.Round(s.ImagesPerSecond, 2),
            ["fingerprint"] = s.Fingerprint,
            ["dimension"] = s.Dimension,
            ["backbone"] = s.Backbone,
            ["cache_dir"] = config.CacheDir,
            ["precision"] = config.Cache.Precision == VectorPrecision.Float16 ? "float16" : "float32",
            ["inputs_hash"] = s.InputsHash,
        };
        if (s.Health is { } h)
            o["vector_health"] = new JsonObject
            {
                ["vectors"] = h.Vectors,
                ["median_norm"] = h.MedianNorm,
                ["mean_cosine_distance"] = h.MeanCosineDistance,
                ["spread"] = h.Spread,
            };
        if (s.Shards is { } t)
            o["shards"] = new JsonObject
            {
                ["summaries"] = t.Summaries,
                ["counts"] = t.Counts,
                ["extracted"] = t.Extracted,
                ["quarantined"] = t.Quarantined,
                ["embedded_by_others"] = t.EmbeddedByOthers,
                ["decoded"] = t.Decoded,
                ["longest_seconds"] = Math.Round(t.LongestSeconds, 3),
                ["images_per_second"] = Math.Round(t.ImagesPerSecond, 2),
            };
        AtomicFile.WriteAllText(ArtifactPaths.ExtractReport(config), o.ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + "\n");
    }
}
