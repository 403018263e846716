using System.Numerics;
using System.Numerics.Tensors;
using BottleneckPipeline.Runtime;

namespace BottleneckPipeline.Head;

/// <summary>
/// The loss of a fully connected softmax layer and its exact gradient. Generic over the number type
/// so training runs in float while the gradient check runs the very same code in double.
/// Parameters are one flat span: weights [classes x dim] row-major, then bias [classes].
/// Loss = mean over the batch of cross-entropy against label-smoothed targets
///        (1 - s) * onehot + s / classes, plus l2 / 2 * |W|^2 (the bias is not penalised).
/// Work is split into fixed pieces (rows of examples, rows of classes); every output element is
/// computed by one fixed sequence of operations, so the result is bitwise the same for any thread count.
/// </summary>
public static class SoftmaxObjective<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>Mean regularised loss over the batch; writes d loss / d parameters into gradient.</summary>
    /// <param name="parameters">weights then bias, length classes * dim + classes.</param>
    /// <param name="x">batch rows, row-major, length batch * dim.</param>
    /// <param name="logits">scratch, length batch * classes; holds d loss / d logits on return.</param>
    public static T LossAndGradient(T[] parameters, int classes, int dim, T[] x, int[] labels, int batch,
        T l2, T smoothing, T[] gradient, T[] logits, in ParallelWork parallel)
    {
        ComputeLogits(parameters, classes, dim, x, batch, logits, parallel);

        var invBatch = T.One / T.CreateChecked(batch);
        var off = smoothing / T.CreateChecked(classes);
        var on = T.One - smoothing + off;
        var loss = T.Zero;
        for (var i = 0; i < batch; i++)
        {
            var z = logits.AsSpan(i * classes, classes);
            var logSum = LogSumExp(z);
            var label = labels[i];
            // Cross-entropy with smoothed targets q: -sum q_c (z_c - logSum); gradient p - q.
            for (var c = 0; c < classes; c++)
            {
                var q = c == label ? on : off;
                var logP = z[c] - logSum;
                loss -= q * logP;
                z[c] = (T.Exp(logP) - q) * invBatch;
            }
        }
        loss *= invBatch;

        var weightCount = classes * dim;
        var weights = parameters.AsSpan(0, weightCount);
        loss += l2 / T.CreateChecked(2) * TensorPrimitives.Dot<T>(weights, weights);

        var dz = logits;
        parallel.For(classes, batch * dim, (from, to) =>
        {
            for (var c = from; c < to; c++)
            {
                var row = gradient.AsSpan(c * dim, dim);
                TensorPrimitives.Multiply<T>(parameters.AsSpan(c * dim, dim), l2, row);
                var biasGrad = T.Zero;
                for (var i = 0; i < batch; i++)
                {
                    var g = dz[i * classes + c];
                    TensorPrimitives.MultiplyAdd<T>(x.AsSpan(i * dim, dim), g, row, row);
                    biasGrad += g;
                }
                gradient[weightCount + c] = biasGrad;
            }
        });
        return loss;
    }

    /// <summary>logits[i, c] = W_c . x_i + b_c.</summary>
    public static void ComputeLogits(T[] parameters, int classes, int dim, T[] x, int batch, T[] logits, in ParallelWork parallel)
    {
        var weightCount = classes * dim;
        parallel.For(batch, classes * dim, (from, to) =>
        {
            for (var i = from; i < to; i++)
            {
                var row = x.AsSpan(i * dim, dim);
                for (var c = 0; c < classes; c++)
                    logits[i * classes + c] = TensorPrimitives.Dot<T>(parameters.AsSpan(c * dim, dim), row) + parameters[weightCount + c];
            }
        });
    }

    public static T LogSumExp(ReadOnlySpan<T> z)
    {
        var max = TensorPrimitives.Max(z);
        var sum = T.Zero;
        foreach (var v in z) sum += T.Exp(v - max);
        return max + T.Log(sum);
    }
}
