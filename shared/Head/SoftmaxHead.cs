using System.Numerics.Tensors;
using BottleneckPipeline.Cache;
using BottleneckPipeline.Metrics;

namespace BottleneckPipeline.Head;

/// <summary>A trained fully connected softmax layer: probabilities = softmax(W x + b).</summary>
public sealed class SoftmaxHead
{
    public SoftmaxHead(float[] weights, float[] bias, string[] labelNames, int dimension)
    {
        if (bias.Length != labelNames.Length) throw new ArgumentException($"{bias.Length} biases for {labelNames.Length} labels");
        if (weights.Length != labelNames.Length * dimension)
            throw new ArgumentException($"weights have {weights.Length} values, expected {labelNames.Length} x {dimension}");
        Weights = weights;
        Bias = bias;
        LabelNames = labelNames;
        Dimension = dimension;
    }

    /// <summary>Row-major [classes x dimension].</summary>
    public float[] Weights { get; }
    public float[] Bias { get; }
    public string[] LabelNames { get; }
    public int Dimension { get; }
    public int ClassCount => LabelNames.Length;

    /// <summary>The flat parameter layout the trainer uses: weights then bias.</summary>
    public static SoftmaxHead FromParameters(float[] parameters, string[] labelNames, int dimension)
    {
        var wc = labelNames.Length * dimension;
        return new SoftmaxHead(parameters.AsSpan(0, wc).ToArray(), parameters.AsSpan(wc).ToArray(), labelNames, dimension);
    }

    public void Probabilities(ReadOnlySpan<float> vector, Span<float> probabilities)
    {
        if (vector.Length != Dimension) throw new ArgumentException($"vector has {vector.Length} values, the head expects {Dimension}");
        for (var c = 0; c < ClassCount; c++)
            probabilities[c] = TensorPrimitives.Dot(Weights.AsSpan(c * Dimension, Dimension), vector) + Bias[c];
        StableSoftmax(probabilities[..ClassCount]);
    }

    /// <summary>
    /// Softmax in place, shifted by the largest logit first: exp then never overflows (above ~88 a
    /// float exp is infinite and inf/inf is NaN), and the sum is at least 1. TensorPrimitives.SoftMax
    /// does not shift.
    /// </summary>
    private static void StableSoftmax(Span<float> logits)
    {
        TensorPrimitives.Subtract(logits, TensorPrimitives.Max(logits), logits);
        TensorPrimitives.SoftMax(logits, logits);
    }

    public float[] Probabilities(ReadOnlySpan<float> vector)
    {
        var p = new float[ClassCount];
        Probabilities(vector, p);
        return p;
    }

    /// <summary>Probabilities for every row of a set, one array per row.</summary>
    public float[][] Probabilities(LabelledVectors set) => set.Rows.Select(r => Probabilities(r)).ToArray();

    /// <summary>The share of the set whose most probable label is its own.</summary>
    public double Accuracy(LabelledVectors set)
    {
        var correct = 0;
        for (var i = 0; i < set.Count; i++)
            if (ClassificationMetrics.ArgMax(Probabilities(set.Rows[i])) == set.Labels[i]) correct++;
        return (double)correct / set.Count;
    }
}
