using System.Security.Cryptography;
using System.Text;
using BottleneckPipeline.Backbones;
using BottleneckPipeline.Cache;
using BottleneckPipeline.Config;

namespace BottleneckPipeline.FineTune;

/// <summary>
/// The frozen prefix's output at the cut, cached like a bottleneck (shared/Cache's segments): its
/// folder is the prefix fingerprint (backbone fingerprint + cut tensor + the view parameters), its
/// key SHA-256(content id, view). So the frozen part runs once per image and view, never once per
/// epoch, and a rerun or a killed run's rerun reuses every committed batch. Stored as float16:
/// half the disk of float32 (a 256x14x14 ResNet-18 activation is 100 KB), and read from disk as needed.
/// </summary>
internal static class PrefixCache
{
    public const VectorPrecision StoredPrecision = VectorPrecision.Float16;
    private const int Batch = 8;

    public static string Fingerprint(string backboneFingerprint, string cutTensor, AugmentConfig augment, int seed)
    {
        var text = FormattableString.Invariant(
            $"prefix-of={backboneFingerprint};cut={cutTensor};flip={augment.Flip};crop_scale={augment.CropScale[0]:R},{augment.CropScale[1]:R};seed={seed}");
        return "prefix-" + Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text)))[..20];
    }

    public static ContentKey KeyOf(string contentId, int view)
    {
        Span<byte> hash = stackalloc byte[32];
        SHA256.HashData(Encoding.UTF8.GetBytes($"{contentId}:{view}"), hash);
        return ContentKey.FromBytes(hash);
    }

    /// <summary>How many of <paramref name="wanted"/> are not cached yet.</summary>
    public static int Missing(string cacheDir, string fingerprint, IReadOnlyList<ExampleView> wanted)
    {
        var cache = BottleneckCache.Open(cacheDir, fingerprint, loadVectors: false, repair: true);
        return wanted.Count(w => !cache.Contains(KeyOf(w.Example.ContentId, w.View)));
    }

    /// <summary>
    /// Runs the frozen prefix on every wanted view not cached yet, committing each batch durably
    /// (kill -9 loses at most the batch in flight); returns how many were computed.
    /// </summary>
    /// <param name="prefix">The backbone spec with the cut as its output tensor.</param>
    public static int Fill(BackboneSpec prefix, ViewTensors views, string cacheDir, string fingerprint, IReadOnlyList<ExampleView> wanted,
        Action<int, int>? progress, CancellationToken ct)
    {
        var cache = BottleneckCache.Open(cacheDir, fingerprint, loadVectors: false, repair: true);
        var todo = wanted.Where(w => !cache.Contains(KeyOf(w.Example.ContentId, w.View))).ToList();
        if (todo.Count == 0) return 0;
        using var session = BackboneSession.Create(prefix, threads: 0);
        using var writer = new CacheWriter(cacheDir, fingerprint, StoredPrecision);
        var input = new float[Batch * views.ValuesPerImage];
        var output = new float[Batch * prefix.Dimension];
        for (var start = 0; start < todo.Count; start += Batch)
        {
            ct.ThrowIfCancellationRequested();
            var n = Math.Min(Batch, todo.Count - start);
            ActivationSource.InParallel(n, ct, k =>
                views.Write(todo[start + k].Example, todo[start + k].View, input.AsSpan(k * views.ValuesPerImage, views.ValuesPerImage)));
            session.Run(input, n, ref output);
            for (var k = 0; k < n; k++)
                writer.Append(KeyOf(todo[start + k].Example.ContentId, todo[start + k].View), output.AsSpan(k * prefix.Dimension, prefix.Dimension));
            writer.Commit();
            progress?.Invoke(start + n, todo.Count);
        }
        return todo.Count;
    }

    /// <summary>
    /// The cached activations of exactly these views, read from their segments batch by batch (float16,
    /// widened on read) rather than loaded: a view at the cut is 100 KB or more, so a dataset's views run to
    /// hundreds of MB (docs/fine-tuning.md, Disk), memory a run would hold on top of its training step's,
    /// which must stay under 2 GB (bench/results.md, area fine-tune: the FineTune stage's peak RSS). From
    /// the second epoch on the page cache serves the reads.
    /// </summary>
    public static BottleneckCache Load(string cacheDir, string fingerprint, IReadOnlyList<ExampleView> wanted)
    {
        var keys = wanted.Select(w => KeyOf(w.Example.ContentId, w.View)).ToHashSet();
        var cache = BottleneckCache.OpenOnDisk(cacheDir, fingerprint, keys, repair: true);
        var absent = wanted.FirstOrDefault(w => !cache.Contains(KeyOf(w.Example.ContentId, w.View)));
        if (absent.Example is not null)
            throw new InvalidOperationException(
                $"the prefix cache {cache.Folder} lacks view {absent.View} of {absent.Example.RelPath} right after it was filled");
        return cache;
    }
}
