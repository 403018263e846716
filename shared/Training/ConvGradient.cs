using Onnx;

namespace BottleneckPipeline.Training;

/// <summary>
/// 2-D Conv, group 1. dX is a Conv of dY with the flipped kernel (stride 1) or a ConvTranspose; dW is either one Gemm of
/// dY against the input's strided k x k windows (im2col written as Slices), or the reference note's
/// Conv over transposed tensors; dB sums dY over batch and space.
/// </summary>
internal sealed class ConvGradient : GradientRule
{
    public override IReadOnlyList<int> WeightInputs => [1, 2];

    public override string? Unsupported(NodeProto node, GradientContext ctx)
    {
        if (OnnxAttributes.Int(node, "group", 1) != 1) return $"grouped convolution (group={OnnxAttributes.Int(node, "group", 1)}) has no gradient rule";
        if (ctx.Shape(node.Input[0]).Length != 4) return "only 2-D convolutions (NCHW) have a gradient rule";
        if ((OnnxAttributes.Ints(node, "dilations") ?? [1, 1]).Any(d => d != 1)) return "dilated convolution has no gradient rule";
        return null;
    }

    public override void Backward(NodeProto node, GradientContext ctx)
    {
        var dy = ctx.GradientOf(node.Output[0]);
        if (dy is null) return;
        var x = node.Input[0];
        var w = node.Input[1];
        var xShape = ctx.Shape(x);
        var wShape = ctx.Shape(w);
        var geo = WindowGeometry.Of(node, xShape[2], xShape[3], wShape);
        var e = ctx.Emit;

        if (node.Input.Count > 2 && ctx.NeedsGradient(node.Input[2]))
            ctx.AddGradient(node.Input[2], e.ReduceSum(dy, "conv_db", [0, 2, 3], keepDims: false));

        if (ctx.NeedsGradient(x))
            ctx.AddGradient(x, InputGradient(e, dy, w, xShape, geo, ctx.Options.ConvInputGradient));

        if (ctx.NeedsGradient(w))
        {
            var form = ctx.Options.ConvWeightGradient;
            if (form == ConvWeightGradientForm.Auto)
                form = wShape[1] >= TrainingGraphOptions.GemmOverWindowsMinChannels ? ConvWeightGradientForm.GemmOverWindows : ConvWeightGradientForm.TransposedConv;
            ctx.AddGradient(w, form == ConvWeightGradientForm.GemmOverWindows
                ? GemmOverWindows(e, x, dy, wShape, geo)
                : TransposedConv(e, x, dy, geo));
        }
    }

    /// <summary>
    /// dX. Stride 1: dX[h] = sum_i dY[h + pad - i] W[i], a full correlation of dY with the kernel flipped
    /// in space and transposed in channels, padded by k - 1 - pad on each side, as a plain Conv.
    /// Otherwise a ConvTranspose of dY with the same weights.
    /// </summary>
    private static string InputGradient(GraphEmitter e, string dy, string w, long[] xShape, WindowGeometry geo, ConvInputGradientForm form)
    {
        long[] flippedPads = [geo.KernelH - 1 - geo.PadTop, geo.KernelW - 1 - geo.PadLeft, geo.KernelH - 1 - geo.PadBottom, geo.KernelW - 1 - geo.PadRight];
        if (form == ConvInputGradientForm.Auto && geo.StrideH == 1 && geo.StrideW == 1 && flippedPads.All(p => p >= 0))
        {
            var flipped = e.Slice(e.Transpose(w, "conv_dx_wt", 1, 0, 2, 3), "conv_dx_wflip", [-1, -1], [long.MinValue, long.MinValue], [2, 3], [-1, -1]);
            return e.Op("Conv", "conv_dx", [dy, flipped], OnnxAttributes.MakeInts("kernel_shape", geo.Kernel), OnnxAttributes.MakeInts("pads", flippedPads));
        }
        // ConvTranspose gives back s*(Ho-1) + k - pads; the rows the forward window never reached are output_padding.
        var extraH = xShape[2] - (geo.StrideH * (geo.OutH - 1) + geo.KernelH - geo.PadTop - geo.PadBottom);
        var extraW = xShape[3] - (geo.StrideW * (geo.OutW - 1) + geo.KernelW - geo.PadLeft - geo.PadRight);
        return e.Op("ConvTranspose", "conv_dx", [dy, w],
            OnnxAttributes.MakeInts("kernel_shape", geo.Kernel), OnnxAttributes.MakeInts("strides", geo.Strides),
            OnnxAttributes.MakeInts("pads", geo.Pads), OnnxAttributes.MakeInts("output_padding", extraH, extraW));
    }

    /// <summary>dW[o, c, i, j] = sum over n, p of dY[n, o, p] * window_ij(X)[n, c, p]: the windows of the
    /// padded input at each kernel offset, taken with the stride (so a strided conv wastes nothing),
    /// stacked into one [k*k*C, N*P] matrix and multiplied by dY as [O, N*P] in a single Gemm.</summary>
    private static string GemmOverWindows(GraphEmitter e, string x, string dy, long[] wShape, WindowGeometry geo)
    {
        var (cout, cin, kh, kw) = (wShape[0], wShape[1], wShape[2], wShape[3]);
        // Channels first, batch second: every window then reshapes to rows of the matrix without a copy per image.
        var xt = e.Transpose(x, "conv_dw_xt", 1, 0, 2, 3);
        if (geo.HasPadding)
            xt = e.Op("Pad", "conv_dw_pad", [xt, e.Int64s(0, 0, geo.PadTop, geo.PadLeft, 0, 0, geo.PadBottom, geo.PadRight)]);
        var windows = new List<string>();
        var whole = kh == 1 && kw == 1 && geo.StrideH == 1 && geo.StrideW == 1;
        for (var i = 0; i < kh; i++)
            for (var j = 0; j < kw; j++)
                windows.Add(whole ? xt : e.Slice(xt, "conv_dw_window",
                    [i, j], [i + geo.StrideH * (geo.OutH - 1) + 1, j + geo.StrideW * (geo.OutW - 1) + 1], [2, 3], [geo.StrideH, geo.StrideW]));
        var stacked = windows.Count == 1 ? windows[0] : e.Op("Concat", "conv_dw_cols", windows, OnnxAttributes.MakeInt("axis", 0));
        var cols = e.Reshape(stacked, "conv_dw_cols", kh * kw * cin, -1);
        var dyRows = e.Reshape(e.Transpose(dy, "conv_dw_dyt", 1, 0, 2, 3), "conv_dw_dy", cout, -1);
        var product = e.Op("Gemm", "conv_dw_gemm", [dyRows, cols], OnnxAttributes.MakeInt("transB", 1));
        // [O, (i, j, c)] -> [O, c, i, j]
        return e.Transpose(e.Reshape(product, "conv_dw", cout, kh, kw, cin), "conv_dw", 0, 3, 1, 2);
    }

    /// <summary>The reference note's form: Conv(X^T, dY^T) with the forward stride as dilation, cropped to the kernel.</summary>
    private static string TransposedConv(GraphEmitter e, string x, string dy, WindowGeometry geo)
    {
        var xt = e.Transpose(x, "conv_dw_xt", 1, 0, 2, 3);
        var dyt = e.Transpose(dy, "conv_dw_dyt", 1, 0, 2, 3);
        var full = e.Op("Conv", "conv_dw_tconv", [xt, dyt], OnnxAttributes.MakeInts("pads", geo.Pads), OnnxAttributes.MakeInts("dilations", geo.Strides));
        var cropped = e.Slice(full, "conv_dw_crop", [0, 0], [geo.KernelH, geo.KernelW], [2, 3]);
        return e.Transpose(cropped, "conv_dw", 1, 0, 2, 3);
    }
}
