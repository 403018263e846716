using Onnx;

namespace BottleneckPipeline.Training;

/// <summary>
/// 2-D Conv, group 1. In the Gemm form (<see cref="ConvComputeForm"/>) the forward, dW and (stride 1) dX are Gemms over
/// one window matrix. In the Conv form dX is a Conv of dY with the flipped kernel (stride 1) or a ConvTranspose; dW is
/// either one Gemm of dY against the input's strided k x k windows (im2col written as one Gather), or a Conv over
/// transposed tensors; dB sums dY over batch and space.
/// </summary>
internal sealed class ConvGradient : GradientRule
{
    public override IReadOnlyList<int> WeightInputs => [1, 2];

    public override string? Unsupported(NodeProto node, GradientContext ctx) => Refusal(node, ctx);

    private static string? Refusal(NodeProto node, GradientContext ctx)
    {
        if (OnnxAttributes.Int(node, "group", 1) != 1) return $"grouped convolution (group={OnnxAttributes.Int(node, "group", 1)}) has no gradient rule";
        if (ctx.Shape(node.Input[0]).Length != 4) return "only 2-D convolutions (NCHW) have a gradient rule";
        if ((OnnxAttributes.Ints(node, "dilations") ?? [1, 1]).Any(d => d != 1)) return "dilated convolution has no gradient rule";
        return null;
    }

    private const string BatchLastKey = "/conv_batch_last";

    /// <summary>Writes the conv as a Gemm over its window matrix when the form says so, keeping its batch-last input for the
    /// backward; otherwise copies the Conv node. The backward gathers the window matrix again from that input rather than
    /// keeping it: the matrix is 9x its input for a 3x3 kernel, and one Gather costs far less than holding it from the
    /// forward to the backward pass (bench/results.md, area fine-tune).</summary>
    public override void Forward(NodeProto node, GradientContext ctx)
    {
        if (!UsesGemm(node, ctx))
        {
            ctx.Emit.Add(node.Clone());
            return;
        }
        var e = ctx.Emit;
        var (x, w) = (node.Input[0], node.Input[1]);
        var wShape = ctx.Shape(w);
        var xShape = ctx.Shape(x);
        var geo = WindowGeometry.Of(node, xShape[2], xShape[3], wShape);
        var xt = BatchLast(e, x, "conv_cols_xt");
        var cols = WindowMatrix(e, xt, wShape[1], geo.InH, geo.InW, geo.Kernel, geo.Strides, geo.Pads, [geo.OutH, geo.OutW]);
        var wRows = e.Reshape(w, "conv_w_rows", wShape[0], -1);
        var gemmInputs = new List<string> { wRows, cols };
        // Gemm broadcasts its C [O, 1] along the columns: the bias of every output channel at every position.
        if (node.Input.Count > 2 && node.Input[2].Length > 0) gemmInputs.Add(e.Reshape(node.Input[2], "conv_bias", wShape[0], 1));
        var rows = e.Op("Gemm", "conv_gemm", gemmInputs);
        var planes = e.Reshape(rows, "conv_y", wShape[0], geo.OutH, geo.OutW, -1);
        var toNchw = new NodeProto { OpType = "Transpose", Name = e.Fresh("conv_y/Transpose") };
        toNchw.Input.Add(planes);
        toNchw.Output.Add(node.Output[0]);
        toNchw.Attribute.Add(OnnxAttributes.MakeInts("perm", 3, 0, 1, 2));
        e.Add(toNchw);
        ctx.Saved[node.Output[0] + BatchLastKey] = xt;
    }

    /// <summary>Whether this node runs as Gemms: its weight trains (a frozen conv keeps ORT's pre-packed Conv) and the form
    /// (or Auto's size rule) picks it.</summary>
    private static bool UsesGemm(NodeProto node, GradientContext ctx)
    {
        var form = ctx.Options.ConvCompute;
        if (form == ConvComputeForm.Conv || node.Input.Count < 2 || !ctx.NeedsGradient(node.Input[1])
            || !ctx.HasShape(node.Input[0]) || !ctx.HasShape(node.Input[1]) || Refusal(node, ctx) is not null) return false;
        if (form == ConvComputeForm.Gemm) return true;
        var (xShape, wShape) = (ctx.Shape(node.Input[0]), ctx.Shape(node.Input[1]));
        var geo = WindowGeometry.Of(node, xShape[2], xShape[3], wShape);
        return wShape[1] * geo.KernelH * geo.KernelW * geo.OutH * geo.OutW <= TrainingGraphOptions.GemmMaxWindowValuesPerImage;
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

        if (ctx.Saved.TryGetValue(node.Output[0] + BatchLastKey, out var xt))
        {
            var cols = WindowMatrix(e, xt, wShape[1], geo.InH, geo.InW, geo.Kernel, geo.Strides, geo.Pads, [geo.OutH, geo.OutW], recomputed: true);
            GemmBackward(node, ctx, dy, cols, xShape, wShape, geo);
            return;
        }

        if (node.Input.Count > 2 && ctx.NeedsGradient(node.Input[2]))
            ctx.AddGradient(node.Input[2], e.ReduceSum(dy, "conv_db", [0, 2, 3], keepDims: false));

        if (ctx.NeedsGradient(x))
            ctx.AddGradient(x, InputGradient(e, dy, w, wShape, xShape, geo, ctx.Options.ConvInputGradient));

        if (ctx.NeedsGradient(w))
        {
            var form = ctx.Options.ConvWeightGradient;
            if (form == ConvWeightGradientForm.Auto)
                form = wShape[1] >= TrainingGraphOptions.GemmOverWindowsMinChannels
                    ? ConvWeightGradientForm.GemmOverWindows
                    : ConvWeightGradientForm.TransposedConv;
            ctx.AddGradient(w, form == ConvWeightGradientForm.GemmOverWindows
                ? GemmOverWindows(e, x, dy, wShape, geo)
                : TransposedConv(e, x, dy, geo));
        }
    }

    /// <summary>The Gemm form's backward: dB sums dY's rows; dW = dY_rows x cols^T is already [O, (c, i, j)], W's layout.
    /// dX at stride 1 is the same Gemm form run on dY: W with its channels swapped ([C, (o, i, j)]) times dY's window
    /// matrix, its windows taken in reverse offset order so the kernel needs no flip; other strides use ConvTranspose.</summary>
    private static void GemmBackward(NodeProto node, GradientContext ctx, string dy, string cols, long[] xShape, long[] wShape, WindowGeometry geo)
    {
        var e = ctx.Emit;
        var dyt = BatchLast(e, dy, "conv_dyt");
        var dyRows = e.Reshape(dyt, "conv_dy_rows", wShape[0], -1);
        if (node.Input.Count > 2 && ctx.NeedsGradient(node.Input[2]))
            ctx.AddGradient(node.Input[2], e.ReduceSum(dyRows, "conv_db", [1], keepDims: false));
        if (ctx.NeedsGradient(node.Input[1]))
            ctx.AddGradient(node.Input[1], WeightGradient(e, dyRows, cols, wShape));
        if (!ctx.NeedsGradient(node.Input[0])) return;
        var flippedPads = geo.FlippedPads;
        if (geo.StrideH != 1 || geo.StrideW != 1 || flippedPads.Any(p => p < 0))
        {
            ctx.AddGradient(node.Input[0], InputGradient(e, dy, node.Input[1], wShape, xShape, geo, ConvInputGradientForm.ConvTranspose));
            return;
        }
        // dX[c, h] = sum over o, i of W[o, c, i] dY[o, h + pad - i]: with dY padded by k - 1 - pad, the window at offset k - 1 - i.
        var dyCols = WindowMatrix(e, dyt, wShape[0], geo.OutH, geo.OutW, geo.Kernel, [1, 1], flippedPads, [xShape[2], xShape[3]], reversed: true);
        var wSwapped = e.Reshape(e.Transpose(node.Input[1], "conv_dx_wt", 1, 0, 2, 3), "conv_dx_wt", wShape[1], -1);
        var dxRows = e.Op("Gemm", "conv_dx_gemm", [wSwapped, dyCols]);
        ctx.AddGradient(node.Input[0], e.Transpose(e.Reshape(dxRows, "conv_dx", wShape[1], xShape[2], xShape[3], -1), "conv_dx", 3, 0, 1, 2));
    }

    /// <summary>An NCHW tensor as [C, H, W, N], batch last: the layout every window matrix and Gemm row here uses. Moving one
    /// axis, ORT runs it as a plain 2-D transpose ([N, CHW] to [CHW, N]); and each window then moves whole rows of N values.</summary>
    private static string BatchLast(GraphEmitter e, string x, string hint) => e.Transpose(x, hint, 1, 2, 3, 0);

    /// <summary>The k x k windows of a batch-last tensor [C, H, W, N] as one [C*kh*kw, Ho*Wo*N] matrix, rows in (c, i, j)
    /// order (or with the offsets reversed), columns in (position, image) order: one Gather of whole N-value rows along the
    /// flattened space, a window position outside the input reading one zero row appended after it. Batch last, each index
    /// moves a whole row of N values, where a Slice per offset over channels-first [C, N, H, W] would copy rows of only W.</summary>
    private static string WindowMatrix(GraphEmitter e, string xt, long channels, long inH, long inW, long[] kernel, long[] strides, long[] pads, long[] outSize,
        bool reversed = false, bool recomputed = false)
    {
        var (kh, kw) = (kernel[0], kernel[1]);
        if (kh == 1 && kw == 1 && strides.All(s => s == 1) && pads.All(p => p == 0))
            return e.Reshape(xt, "conv_cols", channels, -1);
        var (outH, outW) = (outSize[0], outSize[1]);
        var zeroRow = inH * inW;
        var indices = new long[kh * kw * outH * outW];
        var reachesPadding = false;
        for (var a = 0; a < kh; a++)
            for (var b = 0; b < kw; b++)
            {
                var (i, j) = reversed ? (kh - 1 - a, kw - 1 - b) : (a, b);
                for (var oh = 0; oh < outH; oh++)
                    for (var ow = 0; ow < outW; ow++)
                    {
                        var (h, w) = (oh * strides[0] + i - pads[0], ow * strides[1] + j - pads[1]);
                        var inside = h >= 0 && h < inH && w >= 0 && w < inW;
                        reachesPadding |= !inside;
                        indices[((a * kw + b) * outH + oh) * outW + ow] = inside ? h * inW + w : zeroRow;
                    }
            }
        var flat = e.Reshape(xt, "conv_cols_flat", channels, inH * inW, -1);
        if (reachesPadding) flat = e.Op("Pad", "conv_cols_pad", [flat, e.Int64s(0, 0, 0, 0, 1, 0)]);
        // A recomputed matrix gathers with its own copy of the indices: with the forward's, ORT's common-subexpression
        // pass would merge the two Gathers back into one matrix kept alive across the pass.
        var windows = e.Op("Gather", "conv_cols", [flat, e.Int64Tensor(indices, recomputed, kh * kw, outH * outW)], OnnxAttributes.MakeInt("axis", 1));
        return e.Reshape(windows, "conv_cols", channels * kh * kw, -1);
    }

    /// <summary>
    /// dX. Stride 1: dX[h] = sum_i dY[h + pad - i] W[i], a full correlation of dY with the kernel flipped
    /// in space and transposed in channels, padded by k - 1 - pad on each side, as a plain Conv.
    /// Otherwise a ConvTranspose of dY with the same weights.
    /// </summary>
    private static string InputGradient(GraphEmitter e, string dy, string w, long[] wShape, long[] xShape, WindowGeometry geo, ConvInputGradientForm form)
    {
        var flippedPads = geo.FlippedPads;
        if (form == ConvInputGradientForm.Auto && geo.StrideH == 1 && geo.StrideW == 1 && flippedPads.All(p => p >= 0))
        {
            // The spatial flip as a MatMul by the k*k reversal permutation (exact: products with 1 and 0); ORT's Slice with
            // steps -1 copies element by element, which is slow on a kernel of millions of values.
            var k = geo.KernelH * geo.KernelW;
            var reversal = new double[k * k];
            for (var r = 0; r < k; r++) reversal[r * k + (k - 1 - r)] = 1;
            var flat = e.Op("MatMul", "conv_dx_wflip", [e.Reshape(w, "conv_dx_wflat", -1, k), e.Real(reversal, k, k)]);
            var flipped = e.Transpose(e.Reshape(flat, "conv_dx_wflip", wShape), "conv_dx_wt", 1, 0, 2, 3);
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
    /// stacked into one [C*k*k, P*N] matrix (<see cref="WindowMatrix"/>) and multiplied by dY as [O, P*N] in a single Gemm.</summary>
    private static string GemmOverWindows(GraphEmitter e, string x, string dy, long[] wShape, WindowGeometry geo)
    {
        var cols = WindowMatrix(e, BatchLast(e, x, "conv_dw_xt"), wShape[1], geo.InH, geo.InW, geo.Kernel, geo.Strides, geo.Pads, [geo.OutH, geo.OutW]);
        var dyRows = e.Reshape(BatchLast(e, dy, "conv_dw_dyt"), "conv_dw_dy", wShape[0], -1);
        return WeightGradient(e, dyRows, cols, wShape);
    }

    /// <summary>dY as [O, P*N] times the window matrix [C*k*k, P*N] transposed: [O, (c, i, j)], which is W's own layout.</summary>
    private static string WeightGradient(GraphEmitter e, string dyRows, string cols, long[] wShape) =>
        e.Reshape(e.Op("Gemm", "conv_dw_gemm", [dyRows, cols], OnnxAttributes.MakeInt("transB", 1)), "conv_dw", wShape);

    /// <summary>dW as a Conv over transposed tensors: Conv(X^T, dY^T) with the forward stride as dilation, cropped to the
    /// kernel. It beats the window matrix where that matrix is long and thin (few input channels, like a 7x7 stem).</summary>
    private static string TransposedConv(GraphEmitter e, string x, string dy, WindowGeometry geo)
    {
        var xt = e.Transpose(x, "conv_dw_xt", 1, 0, 2, 3);
        var dyt = e.Transpose(dy, "conv_dw_dyt", 1, 0, 2, 3);
        var full = e.Op("Conv", "conv_dw_tconv", [xt, dyt], OnnxAttributes.MakeInts("pads", geo.Pads), OnnxAttributes.MakeInts("dilations", geo.Strides));
        var cropped = e.Slice(full, "conv_dw_crop", [0, 0], [geo.KernelH, geo.KernelW], [2, 3]);
        return e.Transpose(cropped, "conv_dw", 1, 0, 2, 3);
    }
}
