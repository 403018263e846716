using BottleneckPipeline.Head;

namespace BottleneckPipeline.Confidence;

/// <summary>
/// Temperature scaling (Guo et al. 2017): one scalar T for all classes, probabilities softmax(logits / T),
/// T chosen to minimise the negative log-likelihood of a held-out split (the validation split, never
/// test). T > 1 softens an over-confident head, T &lt; 1 sharpens an under-confident one; the ranking of
/// the classes, and so accuracy, never changes.
/// </summary>
public static class TemperatureScaling
{
    /// <summary>The search range for T: far wider than any head needs, so a fit at an end says the data are odd.</summary>
    public const double MinTemperature = 0.05, MaxTemperature = 20.0;

    /// <summary>
    /// The temperature minimising the mean NLL of <paramref name="labels"/> under softmax(logits / T).
    /// The NLL is convex in 1/T, so it has one minimum on the range; golden-section search on log T finds
    /// it to 1e-6 relative, deterministically (no random start, no step size). No rows: 1.
    /// </summary>
    public static double Fit(IReadOnlyList<float[]> logits, IReadOnlyList<int> labels)
    {
        if (logits.Count != labels.Count) throw new ArgumentException($"{logits.Count} logit rows but {labels.Count} labels");
        if (logits.Count == 0) return 1.0;
        double lo = Math.Log(MinTemperature), hi = Math.Log(MaxTemperature);
        var ratio = (Math.Sqrt(5) - 1) / 2;
        double a = hi - ratio * (hi - lo), b = lo + ratio * (hi - lo);
        double fa = NegativeLogLikelihood(logits, labels, Math.Exp(a)), fb = NegativeLogLikelihood(logits, labels, Math.Exp(b));
        while (hi - lo > 1e-6)
        {
            if (fa <= fb)
            {
                (hi, b, fb) = (b, a, fa);
                a = hi - ratio * (hi - lo);
                fa = NegativeLogLikelihood(logits, labels, Math.Exp(a));
            }
            else
            {
                (lo, a, fa) = (a, b, fb);
                b = lo + ratio * (hi - lo);
                fb = NegativeLogLikelihood(logits, labels, Math.Exp(b));
            }
        }
        return Math.Exp((lo + hi) / 2);
    }

    /// <summary>Mean negative log-likelihood of the labels under softmax(logits / T), in nats.</summary>
    public static double NegativeLogLikelihood(IReadOnlyList<float[]> logits, IReadOnlyList<int> labels, double temperature)
    {
        if (logits.Count == 0) return 0;
        var sum = 0.0;
        for (var i = 0; i < logits.Count; i++)
        {
            var row = logits[i];
            var max = double.NegativeInfinity;
            foreach (var v in row) max = Math.Max(max, v / temperature);
            var z = 0.0;
            foreach (var v in row) z += Math.Exp(v / temperature - max);
            sum += max + Math.Log(z) - row[labels[i]] / temperature;
        }
        return sum / logits.Count;
    }

    /// <summary>softmax(logits / T), shifted by the largest logit (no overflow).</summary>
    public static float[] Probabilities(ReadOnlySpan<float> logits, double temperature)
    {
        var p = new float[logits.Length];
        var max = double.NegativeInfinity;
        foreach (var v in logits) max = Math.Max(max, v / temperature);
        var z = 0.0;
        for (var k = 0; k < p.Length; k++) z += Math.Exp(logits[k] / temperature - max);
        for (var k = 0; k < p.Length; k++) p[k] = (float)(Math.Exp(logits[k] / temperature - max) / z);
        return p;
    }

    /// <summary>The head's logits W x + b for one vector.</summary>
    public static float[] Logits(SoftmaxHead head, ReadOnlySpan<float> vector)
    {
        var logits = new float[head.ClassCount];
        for (var k = 0; k < logits.Length; k++)
            logits[k] = System.Numerics.Tensors.TensorPrimitives.Dot(head.Weights.AsSpan(k * head.Dimension, head.Dimension), vector) + head.Bias[k];
        return logits;
    }

    /// <summary>
    /// The same head with its temperature folded in: weights and bias divided by T, so softmax(W' x + b')
    /// = softmax((W x + b) / T). This is how an export applies T: the graph keeps its one Gemm and Softmax.
    /// </summary>
    public static SoftmaxHead Apply(SoftmaxHead head, double temperature)
    {
        if (!(temperature > 0) || double.IsInfinity(temperature))
            throw new ArgumentOutOfRangeException(nameof(temperature), temperature, "a temperature must be positive and finite");
        var w = head.Weights.Select(v => (float)(v / temperature)).ToArray();
        var b = head.Bias.Select(v => (float)(v / temperature)).ToArray();
        return new SoftmaxHead(w, b, head.LabelNames, head.Dimension);
    }
}
