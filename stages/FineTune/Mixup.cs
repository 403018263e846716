using BottleneckPipeline.Head;
using BottleneckPipeline.Training;

namespace BottleneckPipeline.FineTune;

/// <summary>
/// Mixup on the trainable part's input (Zhang et al. 2018; at a cut inside the network it is
/// "manifold mixup", Verma et al. 2019): each row becomes lambda x_i + (1 - lambda) x_j with a
/// partner j from the same batch, and its target the same blend of the two target rows, with one
/// lambda ~ Beta(alpha, alpha) per batch. With a few cached views per image the network can learn
/// every view by heart within a few epochs; blends it has never seen are what keeps it general.
/// </summary>
public sealed class Mixup(double alpha)
{
    // Rows read their partner's original values, so each blend reads from a copy; one buffer, reused every step.
    private float[] _original = [];

    /// <summary>Blends the first n rows of inputs and targets in place; draws lambda and the partners from random.</summary>
    public float Apply(float[] inputs, float[] targets, int n, int valuesPerRow, int classes, SeededRandom random)
    {
        if (alpha <= 0 || n < 2) return 1f;
        var lambda = (float)Beta(alpha, random);
        var partner = new int[n];
        for (var i = 0; i < n; i++) partner[i] = i;
        random.Shuffle(partner);
        Blend(inputs, n, valuesPerRow, partner, lambda);
        Blend(targets, n, classes, partner, lambda);
        return lambda;
    }

    private void Blend(float[] rows, int n, int width, int[] partner, float lambda)
    {
        if (_original.Length < n * width) _original = new float[n * width];
        rows.AsSpan(0, n * width).CopyTo(_original);
        for (var i = 0; i < n; i++)
        {
            var own = _original.AsSpan(i * width, width);
            var other = _original.AsSpan(partner[i] * width, width);
            var dest = rows.AsSpan(i * width, width);
            System.Numerics.Tensors.TensorPrimitives.Multiply(own, lambda, dest);
            System.Numerics.Tensors.TensorPrimitives.MultiplyAdd(other, 1 - lambda, dest, dest);
        }
    }

    /// <summary>Beta(a, a) from two Gamma(a) draws.</summary>
    public static double Beta(double a, SeededRandom random)
    {
        var x = Gamma(a, random);
        var y = Gamma(a, random);
        return x + y > 0 ? x / (x + y) : 0.5;
    }

    /// <summary>Gamma(a, 1) by Marsaglia and Tsang; for a below 1, Gamma(a + 1) U^(1/a).</summary>
    private static double Gamma(double a, SeededRandom random)
    {
        if (a < 1) return Gamma(a + 1, random) * Math.Pow(1.0 - random.NextDouble(), 1.0 / a);
        var d = a - 1.0 / 3;
        var c = 1 / Math.Sqrt(9 * d);
        while (true)
        {
            double x, v;
            do { x = random.NextGaussian(); v = 1 + c * x; } while (v <= 0);
            v = v * v * v;
            var u = 1.0 - random.NextDouble();
            if (Math.Log(u) < 0.5 * x * x + d - d * v + d * Math.Log(v)) return d * v;
        }
    }
}
