using System.Globalization;
using System.Runtime.InteropServices;
using BottleneckPipeline.Artifacts;

namespace BottleneckPipeline.Cache;

/// <summary>
/// Whether a backbone's vectors can carry anything a head could learn, the one place that decides it:
/// Extract runs it on a sample of every run's vectors and refuses degenerate ones, and `Extract
/// inspect` on one photo's vector (and a gray image's). A model fed the wrong input, or one never
/// trained (zero or random weights), still runs to the end and gives vectors of the right length:
/// NaN or infinite, all zero, practically zero (a random network's are near 1e-8), or all nearly
/// the same whatever the image. Scale-free figures (cosine distance, relative spread) judge
/// sameness, so the check holds for any backbone's scale of features.
/// </summary>
public static class VectorHealth
{
    /// <summary>Vectors an Extract run measures: the first this many of its content ids (SHA-256,
    /// so a fair draw over classes), whether embedded now or found in the cache.</summary>
    public const int SampleSize = 256;

    /// <summary>A median norm below this is practically 0: no signal a head can learn from. Real
    /// features lie orders of magnitude above (a trained CNN's pooled features: tens; unit-length
    /// embeddings: 1), an untrained network's can lie at or just above 0.</summary>
    public const double TinyNorm = 1e-4;

    /// <summary>A mean pairwise cosine distance below this: the vectors all point the same way, whatever
    /// the image. A trained backbone's photos lie tenths apart, even a randomly initialised one's
    /// hundredths; a network whose output is its biases gives next to 0.</summary>
    public const double SameDirection = 1e-3;

    /// <summary>A vector this share of whose values are exactly 0 is cut off (every unit below its ReLU's threshold).</summary>
    public const double MostlyZero = 0.99;

    public static VectorHealthFigures Measure(IReadOnlyList<float[]> vectors)
    {
        var dimension = vectors.Count > 0 ? vectors[0].Length : 0;
        var finite = new List<float[]>(vectors.Count);
        int nonFinite = 0, allZero = 0;
        foreach (var v in vectors)
        {
            if (!AllFinite(v)) { nonFinite++; continue; }
            if (!v.AsSpan().ContainsAnyExcept(0f)) allZero++;
            finite.Add(v);
        }
        var norms = finite.Select(Norm).Order().ToList();
        var median = norms.Count == 0 ? 0 : norms.Count % 2 == 1 ? norms[norms.Count / 2] : (norms[norms.Count / 2 - 1] + norms[norms.Count / 2]) / 2;
        return new VectorHealthFigures(vectors.Count, dimension, nonFinite, allZero, median, MeanCosineDistance(finite), Spread(finite));
    }

    /// <summary>
    /// Why the measured vectors are degenerate, naming the check with its figure and threshold, or
    /// null when they are not. Checks in order: NaN or infinite values, all zero, a near-zero norm,
    /// all pointing the same way (which vectors all nearly the same do too).
    /// </summary>
    public static string? Problem(VectorHealthFigures f)
    {
        if (f.Vectors == 0) return null;
        if (f.NonFinite > 0)
            return $"{f.NonFinite} of the {f.Vectors} vectors hold NaN or infinite values";
        if (f.AllZero == f.Vectors)
            return $"every value of all {f.Vectors} vectors is 0";
        if (f.MedianNorm < TinyNorm)
            return Invariant($"the vectors are practically 0: median norm {f.MedianNorm:G3}, below {TinyNorm:G3}");
        if (f.MeanCosineDistance is { } d && d < SameDirection)
            return Invariant($"the vectors are all nearly the same, whatever the image: mean pairwise cosine distance {d:G3}, below {SameDirection:G3}");
        return null;
    }

    private static string Invariant(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);

    private static bool AllFinite(ReadOnlySpan<float> v)
    {
        foreach (var x in v)
            if (!float.IsFinite(x)) return false;
        return true;
    }

    public static double Norm(float[] v)
    {
        double sum = 0;
        foreach (var x in v) sum += (double)x * x;
        return Math.Sqrt(sum);
    }

    private static double? MeanCosineDistance(List<float[]> vectors)
    {
        var unit = vectors.Select(v => (Vector: v, Norm: Norm(v))).Where(x => x.Norm > 0).ToList();
        if (unit.Count < 2) return null;
        double total = 0;
        long pairs = 0;
        for (var i = 0; i < unit.Count; i++)
            for (var j = i + 1; j < unit.Count; j++)
            {
                var dot = System.Numerics.Tensors.TensorPrimitives.Dot(unit[i].Vector, unit[j].Vector);
                total += 1 - Math.Clamp(dot / (unit[i].Norm * unit[j].Norm), -1, 1);
                pairs++;
            }
        return total / pairs;
    }

    private static double? Spread(List<float[]> vectors)
    {
        if (vectors.Count < 2) return null;
        var dimension = vectors[0].Length;
        var mean = new double[dimension];
        foreach (var v in vectors)
            for (var k = 0; k < dimension; k++) mean[k] += v[k];
        for (var k = 0; k < dimension; k++) mean[k] /= vectors.Count;
        double deviation = 0, length = 0;
        foreach (var v in vectors)
            for (var k = 0; k < dimension; k++)
            {
                var d = v[k] - mean[k];
                deviation += d * d;
                length += (double)v[k] * v[k];
            }
        return length == 0 ? 0 : Math.Sqrt(deviation / length);
    }

    /// <summary>
    /// The vectors of a fixed set of content ids, as an Extract run meets them: from the cache as it
    /// is read (<see cref="Visitor"/>) and as the backbone embeds them (<see cref="Offer"/>), each
    /// stored as the cache will give it back (float16 rounds, and may overflow to infinity).
    /// </summary>
    public sealed class Sample(IEnumerable<string> contentIds, bool float16)
    {
        private readonly HashSet<ContentKey> _wanted = [.. contentIds.Select(ContentKey.FromHex)];
        private readonly Dictionary<ContentKey, float[]> _vectors = [];
        private readonly Lock _lock = new();

        public IReadOnlyList<float[]> Vectors
        {
            get { lock (_lock) return [.. _vectors.OrderBy(kv => kv.Key.ToHex(), StringComparer.Ordinal).Select(kv => kv.Value)]; }
        }

        /// <summary>The cache's onVector, as it is opened: keeps the wanted ids' vectors as stored.</summary>
        public VectorVisitor Visitor => (key, bytes, bits) =>
        {
            if (!_wanted.Contains(key)) return;
            var v = bits == 32
                ? MemoryMarshal.Cast<byte, float>(bytes).ToArray()
                : [.. MemoryMarshal.Cast<byte, Half>(bytes).ToArray().Select(h => (float)h)];
            lock (_lock) _vectors.TryAdd(key, v);
        };

        public void Offer(string contentId, ReadOnlySpan<float> vector)
        {
            var key = ContentKey.FromHex(contentId);
            if (!_wanted.Contains(key)) return;
            var v = vector.ToArray();
            if (float16)
                for (var k = 0; k < v.Length; k++) v[k] = (float)(Half)v[k];
            lock (_lock) _vectors[key] = v;
        }
    }
}
