using Onnx;

namespace BottleneckPipeline.Training;

/// <summary>Concat: the gradient is split back into the inputs' extents along the axis.</summary>
internal sealed class ConcatGradient : GradientRule
{
    public override string? Unsupported(NodeProto node, GradientContext ctx)
    {
        var axis = ShapeInference.Axis(OnnxAttributes.Int(node, "axis", 0), ctx.Shape(node.Output[0]).Length);
        return node.Input.Any(i => ctx.Shape(i)[axis] < 0) ? "concatenation along the batch axis has no gradient rule" : null;
    }

    public override void Backward(NodeProto node, GradientContext ctx)
    {
        var dy = ctx.GradientOf(node.Output[0]);
        if (dy is null || !node.Input.Any(ctx.NeedsGradient)) return;
        var axis = ShapeInference.Axis(OnnxAttributes.Int(node, "axis", 0), ctx.Shape(node.Output[0]).Length);
        var sizes = node.Input.Select(i => ctx.Shape(i)[axis]).ToArray();
        var parts = ctx.Emit.Ops("Split", "concat_d", node.Input.Count, [dy, ctx.Emit.Int64s(sizes)], OnnxAttributes.MakeInt("axis", axis));
        for (var i = 0; i < node.Input.Count; i++)
            if (ctx.NeedsGradient(node.Input[i])) ctx.AddGradient(node.Input[i], parts[i]);
    }
}

/// <summary>Flatten, Reshape, Squeeze, Unsqueeze: the gradient takes the input's shape back.</summary>
internal sealed class ReshapeGradient : GradientRule
{
    /// <summary>Old opsets carry Reshape's shape and (Un)Squeeze's axes as attributes; the training opset takes inputs.</summary>
    public override void Forward(NodeProto node, GradientContext ctx)
    {
        var attribute = node.OpType == "Reshape" ? "shape" : node.OpType is "Squeeze" or "Unsqueeze" ? "axes" : null;
        if (attribute is null || OnnxAttributes.Ints(node, attribute) is not { } values)
        {
            ctx.Emit.Add(node.Clone());
            return;
        }
        var copy = new NodeProto { OpType = node.OpType, Name = node.Name };
        copy.Input.Add(node.Input[0]);
        copy.Input.Add(ctx.Emit.Int64s(values));
        copy.Output.Add(node.Output[0]);
        ctx.Emit.Add(copy);
    }

    public override void Backward(NodeProto node, GradientContext ctx)
    {
        var dy = ctx.GradientOf(node.Output[0]);
        if (dy is null || !ctx.NeedsGradient(node.Input[0])) return;
        ctx.AddGradient(node.Input[0], ctx.Emit.Op("Reshape", "reshape_dx", [dy, ctx.RuntimeShape(node.Input[0])]));
    }
}

/// <summary>Pad with constant values: the gradient is dY with the padding cut off.</summary>
internal sealed class PadGradient : GradientRule
{
    public override string? Unsupported(NodeProto node, GradientContext ctx)
    {
        var mode = OnnxAttributes.String(node, "mode") ?? "constant";
        if (mode != "constant") return $"Pad in '{mode}' mode has no gradient rule";
        if (node.Input.Count > 3 && node.Input[3].Length > 0) return "Pad with an axes input has no gradient rule";
        var pads = ShapeInference.PadAmounts(ctx.Forward, node);
        if (pads is null) return "Pad's amounts are not constant";
        if (pads.Any(p => p < 0)) return "Pad with negative amounts (cropping) has no gradient rule";
        return null;
    }

    /// <summary>Before opset 11 the amounts and value were attributes; the training opset takes inputs.</summary>
    public override void Forward(NodeProto node, GradientContext ctx)
    {
        if (OnnxAttributes.Ints(node, "pads") is not { } pads)
        {
            ctx.Emit.Add(node.Clone());
            return;
        }
        var copy = new NodeProto { OpType = "Pad", Name = node.Name };
        copy.Input.Add(node.Input[0]);
        copy.Input.Add(ctx.Emit.Int64s(pads));
        copy.Input.Add(ctx.Emit.Scalar(OnnxAttributes.Float(node, "value", 0f)));
        copy.Output.Add(node.Output[0]);
        ctx.Emit.Add(copy);
    }

    public override void Backward(NodeProto node, GradientContext ctx)
    {
        var dy = ctx.GradientOf(node.Output[0]);
        if (dy is null || !ctx.NeedsGradient(node.Input[0])) return;
        var pads = ShapeInference.PadAmounts(ctx.Forward, node)!;
        var rank = pads.Length / 2;
        var axes = Enumerable.Range(0, rank).Where(a => pads[a] != 0 || pads[a + rank] != 0).ToArray();
        if (axes.Length == 0)
        {
            ctx.AddGradient(node.Input[0], dy);
            return;
        }
        ctx.AddGradient(node.Input[0], ctx.Emit.Slice(dy, "pad_dx",
            [.. axes.Select(a => pads[a])], [.. axes.Select(a => pads[a + rank] > 0 ? -pads[a + rank] : long.MaxValue)], [.. axes.Select(a => (long)a)]));
    }
}
