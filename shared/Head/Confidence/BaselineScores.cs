using System.Numerics.Tensors;

namespace BottleneckPipeline.Confidence;

/// <summary>
/// The simple unknown scores, higher = more likely of no class, kept to measure the shipped one against:
/// max softmax probability (Hendrycks and Gimpel 2017), energy (Liu et al. 2020), and k-th nearest
/// neighbour cosine distance to the training vectors (Sun et al. 2022).
/// </summary>
internal static class BaselineScores
{
    /// <summary>Minus the largest softmax probability of softmax(logits / T).</summary>
    public static double MaxSoftmax(ReadOnlySpan<float> logits, double temperature = 1)
    {
        var p = TemperatureScaling.Probabilities(logits, temperature);
        return -p.Max();
    }

    /// <summary>Energy: minus T log sum exp(logits / T).</summary>
    public static double Energy(ReadOnlySpan<float> logits, double temperature = 1)
    {
        var max = double.NegativeInfinity;
        foreach (var v in logits) max = Math.Max(max, v / temperature);
        var z = 0.0;
        foreach (var v in logits) z += Math.Exp(v / temperature - max);
        return -temperature * (max + Math.Log(z));
    }
}

/// <summary>
/// k-th nearest neighbour distance on L2-normalised vectors (Sun et al. 2022): 1 - cosine similarity to
/// the k-th most similar training vector. Needs the training vectors themselves at run time.
/// </summary>
internal sealed class KnnCosineScore
{
    private readonly float[] _bank;
    private readonly int _dimension;

    public int K { get; }
    public int Count { get; }

    public KnnCosineScore(IReadOnlyList<float[]> training, int k = 10)
    {
        if (training.Count == 0) throw new ArgumentException("no training vectors");
        if (k < 1 || k > training.Count) throw new ArgumentOutOfRangeException(nameof(k), k, $"k must be in 1..{training.Count}");
        _dimension = training[0].Length;
        (K, Count) = (k, training.Count);
        _bank = new float[training.Count * _dimension];
        for (var i = 0; i < training.Count; i++) Normalised(training[i], _bank.AsSpan(i * _dimension, _dimension));
    }

    private static void Normalised(ReadOnlySpan<float> v, Span<float> dest)
    {
        var norm = TensorPrimitives.Norm(v);
        if (norm > 0) TensorPrimitives.Divide(v, norm, dest);
        else v.CopyTo(dest);
    }

    public double Score(ReadOnlySpan<float> vector)
    {
        var q = new float[_dimension];
        Normalised(vector, q);
        var sims = new float[Count];
        for (var i = 0; i < Count; i++) sims[i] = TensorPrimitives.Dot(_bank.AsSpan(i * _dimension, _dimension), q);
        Array.Sort(sims);
        return 1 - sims[Count - K];
    }
}
