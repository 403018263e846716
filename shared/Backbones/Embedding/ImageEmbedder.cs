using System.Security.Cryptography;
using BottleneckPipeline.Backbones;
using BottleneckPipeline.Cache;
using BottleneckPipeline.Config;

namespace BottleneckPipeline.Embedding;

/// <summary>An arbitrary file's bottleneck vector, or why there is none.</summary>
public sealed record EmbeddedImage(string Path, string? ContentId, float[]? Vector, string? Error);

/// <summary>
/// Embeds image files that were never ingested (Evaluate --data, predict) through the same cache
/// and the same preparation as Extract: a file whose content was embedded before is not decoded.
/// </summary>
public static class ImageEmbedder
{
    public static IReadOnlyList<EmbeddedImage> Embed(PipelineConfig config, IReadOnlyList<string> paths, CancellationToken ct = default) =>
        Embed(BackboneFactory.Resolve(config), config, paths, ct);

    public static IReadOnlyList<EmbeddedImage> Embed(BackboneSpec spec, PipelineConfig config, IReadOnlyList<string> paths, CancellationToken ct = default)
    {
        var results = new EmbeddedImage[paths.Count];
        var ids = new string?[paths.Count];
        for (var i = 0; i < paths.Count; i++)
        {
            ct.ThrowIfCancellationRequested();
            var path = Path.GetFullPath(paths[i]);
            try { ids[i] = Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(path))); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                results[i] = new EmbeddedImage(path, null, null, $"cannot read: {e.Message}");
            }
        }
        // Load only these images' vectors, however large the cache is.
        var wanted = ids.OfType<string>().Select(ContentKey.FromHex).ToHashSet();
        var cache = BottleneckCache.Open(config.CacheDir, spec.Fingerprint, loadVectors: true, repair: true, only: wanted);
        var todo = new List<ImageWork>();
        var slotsById = new Dictionary<string, List<int>>(StringComparer.Ordinal);
        for (var i = 0; i < paths.Count; i++)
        {
            if (ids[i] is not { } id) continue;
            var path = Path.GetFullPath(paths[i]);
            if (cache.Dimension > 0 && cache.Get(id) is { } cached)
            {
                results[i] = new EmbeddedImage(path, id, cached, null);
                continue;
            }
            if (!slotsById.TryGetValue(id, out var slots))
            {
                slotsById[id] = slots = [];
                todo.Add(new ImageWork(id, path, path));
            }
            slots.Add(i);
        }
        if (todo.Count == 0) return results;

        using var lanes = BackboneSession.CreateLanes(spec, config.Extract);
        var pipeline = ExtractPipeline.For(spec, lanes, config);
        using var writer = new CacheWriter(config.CacheDir, spec.Fingerprint, config.Cache.Precision);
        var outcome = pipeline.Run(todo, writer, (work, vector) =>
        {
            // Read back what the cache would give, so a float16 cache yields the same values either way.
            var v = vector.ToArray();
            if (config.Cache.Precision == VectorPrecision.Float16)
                for (var k = 0; k < v.Length; k++) v[k] = (float)(Half)v[k];
            foreach (var i in slotsById[work.ContentId]) results[i] = new EmbeddedImage(paths[i], work.ContentId, v, null);
        }, null, ct);
        foreach (var (work, failure) in outcome.Quarantined)
            foreach (var i in slotsById[work.ContentId]) results[i] = new EmbeddedImage(paths[i], work.ContentId, null, failure.Reason);
        return results;
    }
}
