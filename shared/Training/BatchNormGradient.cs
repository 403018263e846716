using Onnx;

namespace BottleneckPipeline.Training;

/// <summary>
/// BatchNormalization in inference mode: the running statistics stay frozen, so the node is the
/// per-channel affine map y = scale * (x - mean) / sqrt(var + eps) + bias. Scale and bias may train.
/// </summary>
internal sealed class BatchNormGradient : GradientRule
{
    public override IReadOnlyList<int> WeightInputs => [1, 2];

    public override string? Unsupported(NodeProto node, GradientContext ctx)
    {
        if (OnnxAttributes.Int(node, "training_mode", 0) != 0 || node.Output.Count(o => o.Length > 0) > 1)
            return "training-mode BatchNormalization (batch statistics) has no gradient rule; the engine keeps BatchNorm in inference mode";
        if (ctx.NeedsGradient(node.Input[3]) || ctx.NeedsGradient(node.Input[4]))
            return "BatchNormalization's running mean and variance cannot be trained";
        if (ctx.Shape(node.Input[0]).Length < 2) return "BatchNormalization needs a channel axis";
        return null;
    }

    /// <summary>Rewritten for the training opset: old attributes (spatial, is_test, consumed_inputs) go, epsilon stays.</summary>
    public override void Forward(NodeProto node, GradientContext ctx)
    {
        var copy = new NodeProto { OpType = node.OpType, Name = node.Name, Domain = node.Domain };
        copy.Input.AddRange(node.Input);
        copy.Output.Add(node.Output[0]);
        copy.Attribute.Add(OnnxAttributes.MakeFloat("epsilon", OnnxAttributes.Float(node, "epsilon", 1e-5f)));
        ctx.Emit.Add(copy);
    }

    public override void Backward(NodeProto node, GradientContext ctx)
    {
        var dy = ctx.GradientOf(node.Output[0]);
        if (dy is null) return;
        var e = ctx.Emit;
        var (x, scale, bias, mean, variance) = (node.Input[0], node.Input[1], node.Input[2], node.Input[3], node.Input[4]);
        var rank = ctx.Shape(x).Length;
        var channels = ctx.Shape(scale)[0];
        // Per-channel vectors broadcast as [C, 1, 1] against [N, C, H, W].
        long[] channelShape = [channels, .. Enumerable.Repeat(1L, rank - 2)];
        long[] reduceAxes = [0, .. Enumerable.Range(2, rank - 2).Select(i => (long)i)];
        var epsilon = OnnxAttributes.Float(node, "epsilon", 1e-5f);
        var invStd = e.Op("Reciprocal", "bn_invstd", [e.Op("Sqrt", "bn_std", [e.Add(variance, e.Scalar(epsilon), "bn_var_eps")])]);

        if (ctx.NeedsGradient(x))
        {
            var a = e.Reshape(e.Mul(scale, invStd, "bn_a"), "bn_a", channelShape);
            ctx.AddGradient(x, e.Mul(dy, a, "bn_dx"));
        }
        var needScale = ctx.NeedsGradient(scale);
        var needBias = ctx.NeedsGradient(bias);
        if (!needScale && !needBias) return;
        var sumDy = e.ReduceSum(dy, "bn_dbias", reduceAxes, keepDims: false);
        if (needBias) ctx.AddGradient(bias, sumDy);
        if (needScale)
        {
            // d scale = sum(dy * (x - mean)) * invstd = (sum(dy * x) - mean * sum(dy)) * invstd: one pass over x.
            var sumDyX = e.ReduceSum(e.Mul(dy, x, "bn_dy_x"), "bn_dy_x", reduceAxes, keepDims: false);
            var centred = e.Op("Sub", "bn_dscale", [sumDyX, e.Mul(mean, sumDy, "bn_mean_dy")]);
            ctx.AddGradient(scale, e.Mul(centred, invStd, "bn_dscale"));
        }
    }
}
