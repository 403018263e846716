using BottleneckPipeline.Confidence;

namespace BottleneckPipeline.Tests.Confidence;

public class RelativeMahalanobisTests
{
    /// <summary>Non-negative "activations": class c is strong on its own block of coordinates, with noise.</summary>
    internal static (List<float[]> Rows, List<int> Labels) Classes(int perClass, int classes, int d, int seed)
    {
        var rng = new Random(seed);
        var rows = new List<float[]>();
        var labels = new List<int>();
        for (var c = 0; c < classes; c++)
            for (var i = 0; i < perClass; i++)
            {
                var v = new float[d];
                for (var j = 0; j < d; j++)
                {
                    var onBlock = j % classes == c;
                    v[j] = (float)Math.Max(0, (onBlock ? 3.0 : 0.6) + Gaussian(rng) * 0.5);
                }
                rows.Add(v);
                labels.Add(c);
            }
        return (rows, labels);
    }

    /// <summary>A far cluster: a pattern no class has (every coordinate weak, one odd block strong).</summary>
    internal static List<float[]> Far(int n, int d, int seed)
    {
        var rng = new Random(seed);
        float Value(int j) => (float)Math.Max(0, (j < d / 6 ? 2.0 : 0.1) + Gaussian(rng) * 0.3);
        return [.. Enumerable.Range(0, n).Select(_ => Enumerable.Range(0, d).Select(Value).ToArray())];
    }

    internal static double Gaussian(Random rng) => Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble());

    private static readonly string[] Names = ["a", "b", "c", "d"];

    [Fact]
    public void A_far_cluster_scores_above_the_classes_and_the_threshold_keeps_95_percent()
    {
        var (train, labels) = Classes(150, 4, 24, seed: 1);
        var (validation, _) = Classes(50, 4, 24, seed: 2);
        var (test, _) = Classes(50, 4, 24, seed: 3);
        var scorer = RelativeMahalanobis.Fit(train, labels, Names);
        var inScores = scorer.Scores(test);
        var farScores = scorer.Scores(Far(100, 24, seed: 4));
        Assert.True(OodMetrics.Auroc(inScores, farScores) > 0.99, $"AUROC {OodMetrics.Auroc(inScores, farScores)}");

        var withThreshold = scorer.WithThreshold(scorer.Scores(validation));
        var kept = scorer.Scores(validation).Count(s => s <= withThreshold.Threshold) / 200.0;
        Assert.InRange(kept, 0.95, 0.955);
        Assert.True(Far(100, 24, seed: 4).All(v => withThreshold.IsUnknown(v)));
        Assert.True(double.IsNaN(scorer.Threshold));
        Assert.Throws<InvalidOperationException>(() => scorer.IsUnknown(test[0]));
    }

    [Fact]
    public void Score_is_the_relative_mahalanobis_distance_by_the_textbook_formula()
    {
        const int d = 5;
        var (train, labels) = Classes(40, 3, d, seed: 7);
        const double a = 0.3;
        var scorer = RelativeMahalanobis.Fit(train, labels, ["x", "y", "z"], shrinkage: a);
        // Direct: transform, means, covariances, explicit inverse by Gauss-Jordan.
        double[] T(float[] v)
        {
            var z = new float[d];
            RelativeMahalanobis.Transform(v, z);
            return [.. z.Select(x => (double)x)];
        }
        var zs = train.Select(T).ToArray();
        var means = Enumerable.Range(0, 3).Select(c => Mean(zs.Where((_, i) => labels[i] == c).ToArray())).ToArray();
        var mean = Mean(zs);
        var within = Shrink(Cov(zs.Select((z, i) => Sub(z, means[labels[i]])).ToArray()), a);
        var total = Shrink(Cov(zs.Select(z => Sub(z, mean)).ToArray()), a);
        var (pw, pt) = (Inverse(within), Inverse(total));
        foreach (var v in Far(5, d, seed: 8).Concat(train.Take(5)))
        {
            var z = T(v);
            var expected = means.Min(m => Quad(pw, Sub(z, m))) - Quad(pt, Sub(z, mean));
            Assert.Equal(expected, scorer.Score(v), Math.Max(1e-3, Math.Abs(expected) * 1e-4));
        }
    }

    [Fact]
    public void Round_trip_keeps_every_score()
    {
        var (train, labels) = Classes(30, 4, 12, seed: 5);
        var scorer = RelativeMahalanobis.Fit(train, labels, Names).WithThreshold([0.1, 0.2, 0.3], 0.9);
        var back = RelativeMahalanobis.Deserialize(scorer.Serialize());
        Assert.Equal(scorer.Threshold, back.Threshold);
        Assert.Equal(scorer.LabelNames, back.LabelNames);
        foreach (var v in train.Take(10)) Assert.Equal(scorer.Score(v), back.Score(v));
        Assert.Equal(4L * (2 * 12 * 12 + 5 * 12), scorer.StoredBytes);
    }

    [Fact]
    public void A_class_without_vectors_or_a_zero_vector_is_handled()
    {
        var (train, labels) = Classes(10, 2, 6, seed: 6);
        Assert.ThrowsAny<Exception>(() => RelativeMahalanobis.Fit(train, labels, ["a", "b", "empty"]));
        var scorer = RelativeMahalanobis.Fit(train, labels, ["a", "b"]);
        Assert.True(double.IsFinite(scorer.Score(new float[6])));
    }

    private static double[] Mean(double[][] rows) => [.. Enumerable.Range(0, rows[0].Length).Select(j => rows.Average(r => r[j]))];
    private static double[] Sub(double[] a, double[] b) => [.. a.Select((v, j) => v - b[j])];
    private static double Quad(double[,] p, double[] v)
    {
        var s = 0.0;
        for (var i = 0; i < v.Length; i++)
            for (var j = 0; j < v.Length; j++) s += v[i] * p[i, j] * v[j];
        return s;
    }
    private static double[,] Cov(double[][] r)
    {
        var d = r[0].Length;
        var c = new double[d, d];
        foreach (var v in r)
            for (var i = 0; i < d; i++)
                for (var j = 0; j < d; j++) c[i, j] += v[i] * v[j] / r.Length;
        return c;
    }
    private static double[,] Shrink(double[,] s, double a)
    {
        var d = s.GetLength(0);
        var tr = Enumerable.Range(0, d).Sum(i => s[i, i]) / d;
        var r = new double[d, d];
        for (var i = 0; i < d; i++)
            for (var j = 0; j < d; j++) r[i, j] = (1 - a) * s[i, j] + (i == j ? a * tr : 0);
        return r;
    }
    private static double[,] Inverse(double[,] m)
    {
        var d = m.GetLength(0);
        var a = new double[d, 2 * d];
        for (var i = 0; i < d; i++)
        {
            for (var j = 0; j < d; j++) a[i, j] = m[i, j];
            a[i, d + i] = 1;
        }
        for (var c = 0; c < d; c++)
        {
            var piv = a[c, c];
            for (var j = 0; j < 2 * d; j++) a[c, j] /= piv;
            for (var r = 0; r < d; r++)
            {
                if (r == c) continue;
                var f = a[r, c];
                for (var j = 0; j < 2 * d; j++) a[r, j] -= f * a[c, j];
            }
        }
        var inv = new double[d, d];
        for (var i = 0; i < d; i++)
            for (var j = 0; j < d; j++) inv[i, j] = a[i, d + j];
        return inv;
    }
}
