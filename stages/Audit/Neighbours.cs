using System.Numerics.Tensors;
using BottleneckPipeline.Cache;
using BottleneckPipeline.Training;

namespace BottleneckPipeline.Audit;

/// <summary>Each row's <see cref="K"/> most cosine-similar other rows, most similar first (-1 past the end when fewer exist).</summary>
internal sealed class NeighbourGraph(int count, int k, int[] index, float[] similarity, bool exact)
{
    public int Count { get; } = count;
    public int K { get; } = k;
    public bool Exact { get; } = exact;

    /// <summary>Row i's neighbours' row numbers.</summary>
    public ReadOnlySpan<int> Of(int i) => index.AsSpan(i * K, K);

    /// <summary>Row i's neighbours' cosine similarities, in the same order.</summary>
    public ReadOnlySpan<float> SimilaritiesOf(int i) => similarity.AsSpan(i * K, K);
}

/// <summary>
/// The k-nearest-neighbour graph by cosine similarity, which the label votes, the near-duplicate candidates and the
/// outlier scores all read. Exact (every pair, in row blocks) up to <see cref="ExactLimit"/> rows; above it an inverted
/// file over a coarse spherical k-means (about sqrt(n) lists, each row searched in the lists of its
/// <see cref="Probes"/> nearest centroids), whose cost grows as n^1.5 / sqrt(n) x probes, close to linearly, and whose
/// recall against the exact search the bench measures. Deterministic for the same rows and seed, whatever the thread count.
/// </summary>
internal static class Neighbours
{
    /// <summary>Rows up to which every pair is compared: n^2 dot products, a few seconds at this limit on two cores
    /// (bench: doctor-scale), where the inverted file already takes a fraction of that.</summary>
    public const int ExactLimit = 8_000;

    /// <summary>Lists searched per row in the inverted file.</summary>
    public const int Probes = 4;

    /// <param name="exact">force exact (true) or approximate (false) search; default by <see cref="ExactLimit"/>.</param>
    public static NeighbourGraph Find(VectorMatrix vectors, int k, int maxParallel, long seed = 1, bool? exact = null, CancellationToken ct = default)
    {
        var n = vectors.Count;
        var d = vectors.Dimension;
        var x = Normalized(vectors);
        k = Math.Max(1, Math.Min(k, Math.Max(1, n - 1)));
        var index = new int[n * k];
        var sims = new float[n * k];
        Array.Fill(index, -1);
        Array.Fill(sims, float.NegativeInfinity);
        var options = new ParallelOptions { MaxDegreeOfParallelism = Math.Max(1, maxParallel), CancellationToken = ct };
        var useExact = exact ?? n <= ExactLimit;
        if (useExact)
        {
            const int block = 64;
            Parallel.For(0, (n + block - 1) / block, options, b =>
            {
                var start = b * block;
                var end = Math.Min(n, start + block);
                for (var j = 0; j < n; j++)
                {
                    var xj = x.AsSpan(j * d, d);
                    for (var i = start; i < end; i++)
                        if (i != j) Offer(index.AsSpan(i * k, k), sims.AsSpan(i * k, k), j, TensorPrimitives.Dot(x.AsSpan(i * d, d), xj));
                }
            });
            return new NeighbourGraph(n, k, index, sims, exact: true);
        }

        var (lists, probes, stride) = InvertedFile(x, n, d, seed, options);
        // Rows of one list probe nearly the same lists: taken list by list, those stay in cache.
        Parallel.For(0, lists.Length, options, list =>
        {
            foreach (var i in lists[list])
            {
                var xi = x.AsSpan(i * d, d);
                var ids = index.AsSpan(i * k, k);
                var best = sims.AsSpan(i * k, k);
                foreach (var c in probes.AsSpan(i * stride, stride))
                    foreach (var j in lists[c])
                        if (j != i) Offer(ids, best, j, TensorPrimitives.Dot(xi, x.AsSpan(j * d, d)));
            }
        });
        return new NeighbourGraph(n, k, index, sims, exact: false);
    }

    /// <summary>Inserts a candidate into a row's sorted top list (ties keep the lower row number first).</summary>
    private static void Offer(Span<int> ids, Span<float> best, int j, float s)
    {
        var k = ids.Length;
        if (ids[k - 1] >= 0 && (s < best[k - 1] || (s == best[k - 1] && ids[k - 1] < j))) return;
        var p = k - 1;
        while (p > 0 && (best[p - 1] < s || (best[p - 1] == s && ids[p - 1] > j)))
        {
            best[p] = best[p - 1];
            ids[p] = ids[p - 1];
            p--;
        }
        best[p] = s;
        ids[p] = j;
    }

    /// <summary>Rows scaled to unit length, in one float32 array (a zero row stays zero).</summary>
    internal static float[] Normalized(VectorMatrix vectors)
    {
        var d = vectors.Dimension;
        var x = new float[(long)vectors.Count * d];
        for (var i = 0; i < vectors.Count; i++)
        {
            var row = x.AsSpan(i * d, d);
            vectors.CopyRow(i, row);
            var norm = TensorPrimitives.Norm(row);
            if (norm > 0) TensorPrimitives.Divide(row, norm, row);
        }
        return x;
    }

    /// <summary>
    /// Spherical k-means (unit centroids, nearest by dot product) on a seeded sample, then every row filed under its
    /// nearest centroid; returns the lists and each row's nearest centroids (Stride of them: <see cref="Probes"/>, or
    /// fewer when there are fewer lists).
    /// </summary>
    private static (int[][] Lists, int[] Probes, int Stride) InvertedFile(float[] x, int n, int d, long seed, ParallelOptions options)
    {
        var lists = Math.Clamp((int)Math.Round(Math.Sqrt(n)), 1, 4096);
        var random = new SeededRandom(seed);
        var order = Enumerable.Range(0, n).ToArray();
        random.Shuffle(order);
        var sample = order.Take(Math.Min(n, 64 * lists)).Order().ToArray();
        var centroids = new float[lists * d];
        for (var c = 0; c < lists; c++) x.AsSpan(order[c] * d, d).CopyTo(centroids.AsSpan(c * d, d));
        var assigned = new int[sample.Length];
        for (var iteration = 0; iteration < 8; iteration++)
        {
            Parallel.For(0, sample.Length, options, s => assigned[s] = Nearest(x.AsSpan(sample[s] * d, d), centroids, lists, d));
            var sums = new float[lists * d];
            var counts = new int[lists];
            for (var s = 0; s < sample.Length; s++)
            {
                TensorPrimitives.Add(sums.AsSpan(assigned[s] * d, d), x.AsSpan(sample[s] * d, d), sums.AsSpan(assigned[s] * d, d));
                counts[assigned[s]]++;
            }
            for (var c = 0; c < lists; c++)
            {
                var sum = sums.AsSpan(c * d, d);
                var norm = TensorPrimitives.Norm(sum);
                if (counts[c] > 0 && norm > 0) TensorPrimitives.Divide(sum, norm, centroids.AsSpan(c * d, d));
            }
        }
        var stride = Math.Min(Probes, lists);
        var nearest = new int[n * stride];
        Parallel.For(0, n, options, () => new float[lists], (i, _, scores) =>
        {
            var xi = x.AsSpan(i * d, d);
            for (var c = 0; c < lists; c++) scores[c] = TensorPrimitives.Dot(xi, centroids.AsSpan(c * d, d));
            for (var p = 0; p < stride; p++)
            {
                var arg = TensorPrimitives.IndexOfMax<float>(scores);
                nearest[i * stride + p] = arg;
                scores[arg] = float.NegativeInfinity;
            }
            return scores;
        }, _ => { });
        var members = Enumerable.Range(0, lists).Select(_ => new List<int>()).ToArray();
        for (var i = 0; i < n; i++) members[nearest[i * stride]].Add(i);
        return ([.. members.Select(m => m.ToArray())], nearest, stride);
    }

    private static int Nearest(ReadOnlySpan<float> v, float[] centroids, int lists, int d)
    {
        var best = 0;
        var bestScore = float.NegativeInfinity;
        for (var c = 0; c < lists; c++)
        {
            var s = TensorPrimitives.Dot(v, centroids.AsSpan(c * d, d));
            if (s > bestScore) (best, bestScore) = (c, s);
        }
        return best;
    }
}
