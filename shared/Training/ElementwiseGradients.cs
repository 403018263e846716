using Onnx;

namespace BottleneckPipeline.Training;

/// <summary>Relu: the gradient passes where the output is positive.</summary>
internal sealed class ReluGradient : GradientRule
{
    public override void Backward(NodeProto node, GradientContext ctx)
    {
        var dy = ctx.GradientOf(node.Output[0]);
        if (dy is null || !ctx.NeedsGradient(node.Input[0])) return;
        var e = ctx.Emit;
        var positive = e.Op("Greater", "relu_mask", [node.Output[0], e.Scalar(0)]);
        ctx.AddGradient(node.Input[0], e.Op("Where", "relu_dx", [positive, dy, e.Scalar(0)]));
    }
}

/// <summary>Identity and inference-mode Dropout: the gradient passes unchanged.</summary>
internal sealed class PassThroughGradient : GradientRule
{
    public override string? Unsupported(NodeProto node, GradientContext ctx) =>
        node.OpType == "Dropout" && node.Output.Count > 1 && node.Output[1].Length > 0 ? "Dropout's mask output is used" : null;

    public override void Forward(NodeProto node, GradientContext ctx)
    {
        // Dropout at inference is the identity; written as one so no training_mode input is needed.
        var copy = new NodeProto { OpType = "Identity", Name = node.Name };
        copy.Input.Add(node.Input[0]);
        copy.Output.Add(node.Output[0]);
        ctx.Emit.Add(copy);
    }

    public override void Backward(NodeProto node, GradientContext ctx)
    {
        if (ctx.GradientOf(node.Output[0]) is { } dy && ctx.NeedsGradient(node.Input[0])) ctx.AddGradient(node.Input[0], dy);
    }
}

/// <summary>Add, Sub and Mul with numpy broadcasting: gradients are summed back over broadcast axes.</summary>
internal sealed class ArithmeticGradient : GradientRule
{
    /// <summary>A constant operand (a bias added or a scale multiplied) may be trained.</summary>
    public override IReadOnlyList<int> WeightInputs => [0, 1];

    public override string? Unsupported(NodeProto node, GradientContext ctx) =>
        OnnxAttributes.Has(node, "broadcast") ? "the pre-opset-7 'broadcast' attribute is not supported" : null;

    public override void Backward(NodeProto node, GradientContext ctx)
    {
        var dy = ctx.GradientOf(node.Output[0]);
        if (dy is null) return;
        var e = ctx.Emit;
        var outShape = ctx.Shape(node.Output[0]);
        for (var i = 0; i < 2; i++)
        {
            var input = node.Input[i];
            if (!ctx.NeedsGradient(input)) continue;
            var g = node.OpType switch
            {
                "Add" => dy,
                "Sub" => i == 0 ? dy : e.Op("Neg", "sub_db", [dy]),
                "Mul" => e.Mul(dy, node.Input[1 - i], "mul_d"),
                _ => throw new InvalidOperationException(node.OpType),
            };
            ctx.AddGradient(input, ctx.Unbroadcast(g, outShape, ctx.Shape(input), node.OpType.ToLowerInvariant() + "_unbroadcast"));
        }
    }
}
