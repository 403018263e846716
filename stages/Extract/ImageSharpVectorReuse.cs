using BottleneckPipeline.Backbones;
using BottleneckPipeline.Cache;
using BottleneckPipeline.Embedding;
using BottleneckPipeline.Index;

namespace BottleneckPipeline.Extract;

/// <summary>
/// A decode policy that sends large JPEGs to libvips gets a fingerprint of its own, but it decodes
/// every other image exactly as the ImageSharp-only pipeline did. Those images' vectors are copied
/// from the ImageSharp fingerprint's folder instead of being decoded and embedded again, so turning
/// libvips on re-extracts only the large photos (Ingest's header probe gave their size).
/// </summary>
internal static class ImageSharpVectorReuse
{
    /// <summary>Copies what it can into <paramref name="writer"/> (committed) and returns the content ids copied.</summary>
    public static HashSet<string> Copy(BackboneSpec spec, string cacheDir, IndexDb db, IReadOnlyList<ImageWork> todo, CacheWriter writer)
    {
        var copied = new HashSet<string>(StringComparer.Ordinal);
        if (spec.Fingerprint == spec.ImageSharpFingerprint || todo.Count == 0) return copied;
        var left = IndexedDecodePaths.LeftToImageSharp(spec, db);
        var wanted = todo.Where(w => left.Contains(w.ContentId)).Select(w => ContentKey.FromHex(w.ContentId)).ToHashSet();
        if (wanted.Count == 0) return copied;
        var source = BottleneckCache.Open(cacheDir, spec.ImageSharpFingerprint, loadVectors: true, only: wanted);
        if (source.Dimension == 0) return copied;
        var vector = new float[source.Dimension];
        foreach (var work in todo)
        {
            if (!source.TryGet(work.ContentId, vector)) continue;
            writer.Append(work.ContentId, vector);
            copied.Add(work.ContentId);
        }
        if (copied.Count > 0) writer.Commit();
        return copied;
    }
}
