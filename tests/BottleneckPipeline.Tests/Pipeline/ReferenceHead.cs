using BottleneckPipeline.Head;

namespace BottleneckPipeline.Tests.Pipeline;

/// <summary>
/// The head's answer for one vector worked out by hand from its stored weights, in double
/// precision: softmax(W x + b), written out here rather than taken from SoftmaxHead, so a report
/// or CSV can be checked against something the code under test did not compute.
/// </summary>
public static class ReferenceHead
{
    public static double[] Probabilities(HeadArtifact head, float[] vector)
    {
        Assert.Equal(head.Dimension, vector.Length);
        var logits = new double[head.LabelNames.Length];
        for (var c = 0; c < logits.Length; c++)
        {
            double sum = head.Bias[c];
            for (var j = 0; j < head.Dimension; j++) sum += (double)head.Weights[c * head.Dimension + j] * vector[j];
            logits[c] = sum;
        }
        var max = logits.Max();
        var exp = logits.Select(l => Math.Exp(l - max)).ToArray();
        var total = exp.Sum();
        return exp.Select(e => e / total).ToArray();
    }

    public static int Predicted(HeadArtifact head, float[] vector)
    {
        var p = Probabilities(head, vector);
        return Array.IndexOf(p, p.Max());
    }
}
