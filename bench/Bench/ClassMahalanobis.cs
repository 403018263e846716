using BottleneckPipeline.Cache;
using BottleneckPipeline.Confidence;

namespace BottleneckPipeline.Bench;

/// <summary>
/// Class-conditional Mahalanobis distance (Lee et al. 2018) on the same power-normalised vectors and shrunk shared
/// covariance as the shipped <see cref="RelativeMahalanobis"/>, without its background term: the ood area scores it
/// beside the shipped score to show what the background term adds. Higher = more likely of no class.
/// </summary>
internal sealed class ClassMahalanobis
{
    private readonly double[,] _whitening;
    private readonly double[][] _centres;

    public ClassMahalanobis(LabelledVectors train, double shrinkage = RelativeMahalanobis.DefaultShrinkage)
    {
        var d = train.Dimension;
        var z = train.Rows.Select(Transform).ToArray();
        var means = new double[train.ClassCount][];
        for (var c = 0; c < means.Length; c++)
        {
            var rows = z.Where((_, i) => train.Labels[i] == c).ToArray();
            means[c] = [.. Enumerable.Range(0, d).Select(j => rows.Average(r => r[j]))];
        }
        var scatter = new double[d, d];
        for (var i = 0; i < z.Length; i++)
        {
            var m = means[train.Labels[i]];
            for (var a = 0; a < d; a++)
                for (var b = 0; b < d; b++)
                    scatter[a, b] += (z[i][a] - m[a]) * (z[i][b] - m[b]) / z.Length;
        }
        var scale = Enumerable.Range(0, d).Sum(j => scatter[j, j]) / d;
        for (var a = 0; a < d; a++)
            for (var b = 0; b < d; b++)
                scatter[a, b] = (1 - shrinkage) * scatter[a, b] + (a == b ? shrinkage * scale : 0);
        _whitening = RelativeMahalanobis.InverseCholesky(scatter);
        _centres = [.. means.Select(Whiten)];
    }

    public double Score(float[] vector)
    {
        var y = Whiten(Transform(vector));
        return _centres.Min(c => c.Select((v, j) => (v - y[j]) * (v - y[j])).Sum());
    }

    public double[] Scores(IEnumerable<float[]> rows) => [.. rows.Select(Score)];

    private static double[] Transform(float[] x)
    {
        var z = new float[x.Length];
        RelativeMahalanobis.Transform(x, z);
        return [.. z.Select(v => (double)v)];
    }

    private double[] Whiten(double[] z)
    {
        var d = z.Length;
        var y = new double[d];
        for (var i = 0; i < d; i++)
            for (var k = 0; k <= i; k++)
                y[i] += _whitening[i, k] * z[k];
        return y;
    }
}
