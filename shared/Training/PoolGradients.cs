using Onnx;

namespace BottleneckPipeline.Training;

/// <summary>Checks shared by the pooling rules.</summary>
internal static class PoolChecks
{
    public static string? Unsupported(NodeProto node, GradientContext ctx)
    {
        if (ctx.Shape(node.Input[0]).Length != 4) return "only 2-D pooling (NCHW) has a gradient rule";
        if (OnnxAttributes.Int(node, "ceil_mode", 0) != 0) return "pooling with ceil_mode=1 has no gradient rule";
        if ((OnnxAttributes.Ints(node, "dilations") ?? [1, 1]).Any(d => d != 1)) return "dilated pooling has no gradient rule";
        return null;
    }

    /// <summary>Sums per-offset contributions [N, C, kh*kw, Ho, Wo] back onto the input grid: Col2Im does the
    /// overlapping adds of every window at once, and removes the padding.</summary>
    public static string ScatterWindows(GraphEmitter e, string contributions, long channels, WindowGeometry geo, string hint)
    {
        var cols = e.Reshape(contributions, hint + "_cols", 0, channels * geo.KernelH * geo.KernelW, geo.OutH * geo.OutW);
        return e.Op("Col2Im", hint, [cols, e.Int64s(geo.InH, geo.InW), e.Int64s(geo.KernelH, geo.KernelW)],
            OnnxAttributes.MakeInts("strides", geo.Strides), OnnxAttributes.MakeInts("pads", geo.Pads));
    }

    /// <summary>dY / (H * W) spread back over the whole input: the gradient of a mean over all positions.</summary>
    public static string SpreadMean(GradientContext ctx, string x, string dy, long[] xShape, string hint)
    {
        var e = ctx.Emit;
        var scaled = e.Mul(dy, e.Scalar(1.0 / (xShape[2] * xShape[3])), hint);
        return e.Op("Expand", hint, [scaled, ctx.RuntimeShape(x)]);
    }
}

/// <summary>
/// MaxPool: the gradient of each window goes to the input that won it (the first maximum in row
/// order, as ORT's MaxPool picks it). The default form reads MaxPool's Indices and routes dY with one
/// ScatterElements with add. The window-mask form (no scatter: windows unfolded by a one-hot Conv,
/// ArgMax, Col2Im) is slower on ONNX Runtime's CPU (bench: fine-tune-engine) and serves runtimes
/// without that scatter (see <see cref="MaxPoolGradientForm"/>).
/// </summary>
internal sealed class MaxPoolGradient : GradientRule
{
    public override string? Unsupported(NodeProto node, GradientContext ctx)
    {
        if (PoolChecks.Unsupported(node, ctx) is { } reason) return reason;
        if (node.Output.Count > 1 && node.Output[1].Length > 0 && ctx.Forward.Consumers(node.Output[1]).Count > 0) return "MaxPool's Indices output is used";
        if (OnnxAttributes.Int(node, "storage_order", 0) != 0) return "MaxPool with storage_order=1 has no gradient rule";
        return null;
    }

    public override void Forward(NodeProto node, GradientContext ctx)
    {
        var copy = node.Clone();
        if (ctx.WithBackward && ctx.Options.MaxPoolGradient == MaxPoolGradientForm.IndicesScatter && copy.Output.Count < 2) copy.Output.Add(IndicesName(node));
        ctx.Emit.Add(copy);
    }

    private static string IndicesName(NodeProto node) =>
        node.Output.Count > 1 && node.Output[1].Length > 0 ? node.Output[1] : GraphEmitter.Prefix + node.Output[0] + "/indices";

    public override void Backward(NodeProto node, GradientContext ctx)
    {
        var dy = ctx.GradientOf(node.Output[0]);
        var x = node.Input[0];
        if (dy is null || !ctx.NeedsGradient(x)) return;
        var xShape = ctx.Shape(x);
        var geo = WindowGeometry.Of(node, xShape[2], xShape[3]);
        ctx.AddGradient(x, ctx.Options.MaxPoolGradient == MaxPoolGradientForm.IndicesScatter
            ? IndicesScatter(ctx, node, dy, xShape)
            : WindowMasks(ctx.Emit, x, dy, xShape[1], geo));
    }

    /// <summary>
    /// Unfolds every window with one Conv (a one-hot kernel per offset, over channels as the batch),
    /// takes each window's first maximum with ArgMax, turns it into a one-hot mask scaled by dY, and
    /// sums the masks back with Col2Im: a handful of whole-tensor ops instead of a scatter.
    /// </summary>
    private static string WindowMasks(GraphEmitter e, string x, string dy, long channels, WindowGeometry geo)
    {
        var (kh, kw) = (geo.KernelH, geo.KernelW);
        var planes = e.Reshape(x, "maxpool_planes", -1, 1, geo.InH, geo.InW);
        // Padding never wins a window: it holds the lowest float (finite, so the one-hot kernel's zeros stay zeros).
        if (geo.HasPadding)
            planes = e.Op("Pad", "maxpool_pad", [planes, e.Int64s(0, 0, geo.PadTop, geo.PadLeft, 0, 0, geo.PadBottom, geo.PadRight), e.Scalar(float.MinValue)]);
        var oneHot = new double[kh * kw * kh * kw];
        for (var o = 0; o < kh * kw; o++) oneHot[o * kh * kw + o] = 1;
        var windows = e.Op("Conv", "maxpool_windows", [planes, e.Real(oneHot, kh * kw, 1, kh, kw)], OnnxAttributes.MakeInts("strides", geo.Strides));
        // ArgMax takes the first maximum, as MaxPool does; the mask is [N*C, kh*kw, Ho, Wo].
        var winner = e.Op("ArgMax", "maxpool_winner", [windows], OnnxAttributes.MakeInt("axis", 1), OnnxAttributes.MakeInt("keepdims", 0));
        var mask = e.Op("OneHot", "maxpool_mask", [winner, e.Int64Scalar(kh * kw), e.Real([0, 1], 2)], OnnxAttributes.MakeInt("axis", 1));
        var routed = e.Mul(mask, e.Reshape(dy, "maxpool_dy", -1, 1, geo.OutH, geo.OutW), "maxpool_routed");
        var cols = e.Reshape(routed, "maxpool_cols", -1, kh * kw, geo.OutH * geo.OutW);
        var summed = e.Op("Col2Im", "maxpool_dx", [cols, e.Int64s(geo.InH, geo.InW), e.Int64s(kh, kw)],
            OnnxAttributes.MakeInts("strides", geo.Strides), OnnxAttributes.MakeInts("pads", geo.Pads));
        return e.Reshape(summed, "maxpool_dx", -1, channels, geo.InH, geo.InW);
    }

    private static string IndicesScatter(GradientContext ctx, NodeProto node, string dy, long[] xShape)
    {
        var e = ctx.Emit;
        // Indices count over the whole NCHW tensor, so one flat scatter-add places every gradient.
        var flatIndices = e.Reshape(IndicesName(node), "maxpool_idx", -1);
        var flatDy = e.Reshape(dy, "maxpool_dy", -1);
        var zeros = e.Op("Expand", "maxpool_zeros",
        [
            e.Scalar(0),
            e.Reshape(e.Op("ReduceProd", "maxpool_size", [ctx.RuntimeShape(node.Input[0])], OnnxAttributes.MakeInt("keepdims", 1)), "maxpool_size", 1),
        ]);
        var scattered = e.Op("ScatterElements", "maxpool_scatter", [zeros, flatIndices, flatDy], OnnxAttributes.MakeString("reduction", "add"));
        return e.Op("Reshape", "maxpool_dx", [scattered, ctx.RuntimeShape(node.Input[0])]);
    }
}

/// <summary>
/// AveragePool: each output's gradient is shared equally by the inputs its window averaged (the
/// divisor counts padding or not, as count_include_pad says). A window over the whole input is a
/// mean, spread back with Expand; otherwise the shares are summed back with Col2Im.
/// </summary>
internal sealed class AveragePoolGradient : GradientRule
{
    public override string? Unsupported(NodeProto node, GradientContext ctx) => PoolChecks.Unsupported(node, ctx);

    public override void Backward(NodeProto node, GradientContext ctx)
    {
        var dy = ctx.GradientOf(node.Output[0]);
        var x = node.Input[0];
        if (dy is null || !ctx.NeedsGradient(x)) return;
        var e = ctx.Emit;
        var xShape = ctx.Shape(x);
        var geo = WindowGeometry.Of(node, xShape[2], xShape[3]);
        if (geo is { OutH: 1, OutW: 1, HasPadding: false } && geo.KernelH == xShape[2] && geo.KernelW == xShape[3])
        {
            ctx.AddGradient(x, PoolChecks.SpreadMean(ctx, x, dy, xShape, "avgpool_dx"));
            return;
        }
        // Without ceil_mode every window lies inside the padded input, so counting the padding gives kh * kw.
        var includePad = OnnxAttributes.Int(node, "count_include_pad", 0) != 0;
        static long Inside(long start, long k, long size) => Math.Min(start + k, size) - Math.Max(start, 0);
        var shares = new double[geo.OutH * geo.OutW];
        for (var a = 0; a < geo.OutH; a++)
            for (var b = 0; b < geo.OutW; b++)
                shares[a * geo.OutW + b] = 1.0 / (includePad
                    ? geo.KernelH * geo.KernelW
                    : Inside(a * geo.StrideH - geo.PadTop, geo.KernelH, geo.InH) * Inside(b * geo.StrideW - geo.PadLeft, geo.KernelW, geo.InW));
        var scaled = shares.All(s => s == shares[0])
            ? e.Mul(dy, e.Scalar(shares[0]), "avgpool_share")
            : e.Mul(dy, e.Real(shares, geo.OutH, geo.OutW), "avgpool_share");
        // Every kernel offset gets the same share: [N, C, 1, Ho, Wo] expanded to [N, C, kh*kw, Ho, Wo].
        var perOffset = e.Op("Expand", "avgpool_parts",
            [e.Op("Unsqueeze", "avgpool_parts", [scaled, e.Int64s(2)]), e.Int64s(1, 1, geo.KernelH * geo.KernelW, 1, 1)]);
        ctx.AddGradient(x, PoolChecks.ScatterWindows(e, perOffset, xShape[1], geo, "avgpool_dx"));
    }
}

/// <summary>GlobalAveragePool: the mean's gradient spread evenly over every position.</summary>
internal sealed class GlobalAveragePoolGradient : GradientRule
{
    public override string? Unsupported(NodeProto node, GradientContext ctx) =>
        ctx.Shape(node.Input[0]).Length != 4 ? "only 2-D GlobalAveragePool (NCHW) has a gradient rule" : null;

    public override void Backward(NodeProto node, GradientContext ctx)
    {
        var dy = ctx.GradientOf(node.Output[0]);
        var x = node.Input[0];
        if (dy is null || !ctx.NeedsGradient(x)) return;
        ctx.AddGradient(x, PoolChecks.SpreadMean(ctx, x, dy, ctx.Shape(x), "gap_dx"));
    }
}
