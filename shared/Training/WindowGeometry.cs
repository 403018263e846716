using Onnx;

namespace BottleneckPipeline.Training;

/// <summary>
/// The sliding window of a 2-D Conv or pooling node over an NCHW input: kernel, strides, explicit
/// pads (auto_pad resolved) and the output size. Shape inference and the gradient rules share it.
/// </summary>
internal sealed record WindowGeometry(long KernelH, long KernelW, long StrideH, long StrideW,
    long PadTop, long PadLeft, long PadBottom, long PadRight, long InH, long InW, long OutH, long OutW, bool CeilMode)
{
    public bool HasPadding => PadTop != 0 || PadLeft != 0 || PadBottom != 0 || PadRight != 0;
    public long[] Pads => [PadTop, PadLeft, PadBottom, PadRight];
    public long[] Kernel => [KernelH, KernelW];
    public long[] Strides => [StrideH, StrideW];
    /// <summary>The padding that turns a stride-1 window's input gradient into a full correlation of dY: k - 1 - pad on each side
    /// (a negative entry means no such correlation exists).</summary>
    public long[] FlippedPads => [KernelH - 1 - PadTop, KernelW - 1 - PadLeft, KernelH - 1 - PadBottom, KernelW - 1 - PadRight];

    /// <summary>The window of a node over an input of spatial size inH x inW; kernel from the weight (Conv) or the attribute.</summary>
    public static WindowGeometry Of(NodeProto node, long inH, long inW, long[]? weightShape = null)
    {
        var kernel = OnnxAttributes.Ints(node, "kernel_shape")
                     ?? (weightShape is { Length: 4 }
                         ? [weightShape[2], weightShape[3]]
                         : throw new InvalidDataException($"node '{node.Name}' has no kernel_shape"));
        if (kernel.Length != 2) throw new InvalidDataException($"node '{node.Name}' is not 2-D (kernel_shape has {kernel.Length} values)");
        var strides = OnnxAttributes.Ints(node, "strides") ?? [1, 1];
        var dilations = OnnxAttributes.Ints(node, "dilations") ?? [1, 1];
        if (dilations.Any(d => d != 1)) throw new InvalidDataException($"node '{node.Name}' is dilated");
        var ceil = OnnxAttributes.Int(node, "ceil_mode", 0) != 0;
        var autoPad = OnnxAttributes.String(node, "auto_pad") ?? "NOTSET";
        long[] pads;
        switch (autoPad)
        {
            case "NOTSET" or "":
                pads = OnnxAttributes.Ints(node, "pads") ?? [0, 0, 0, 0];
                break;
            case "VALID":
                pads = [0, 0, 0, 0];
                break;
            case "SAME_UPPER" or "SAME_LOWER":
                {
                    // Output = ceil(in / stride); the extra pad goes to the end (UPPER) or the beginning (LOWER).
                    var total = new long[2];
                    long[] sizes = [inH, inW];
                    for (var a = 0; a < 2; a++)
                    {
                        var o = (sizes[a] + strides[a] - 1) / strides[a];
                        total[a] = Math.Max(0, (o - 1) * strides[a] + kernel[a] - sizes[a]);
                    }
                    pads = autoPad == "SAME_UPPER"
                        ? [total[0] / 2, total[1] / 2, total[0] - total[0] / 2, total[1] - total[1] / 2]
                        : [total[0] - total[0] / 2, total[1] - total[1] / 2, total[0] / 2, total[1] / 2];
                    break;
                }
            default:
                throw new InvalidDataException($"node '{node.Name}' has auto_pad '{autoPad}'");
        }
        long Out(long size, long k, long s, long before, long after)
        {
            var span = size + before + after - k;
            return (ceil ? (span + s - 1) / s : span / s) + 1;
        }
        return new WindowGeometry(kernel[0], kernel[1], strides[0], strides[1], pads[0], pads[1], pads[2], pads[3],
            inH, inW, Out(inH, kernel[0], strides[0], pads[0], pads[2]), Out(inW, kernel[1], strides[1], pads[1], pads[3]), ceil);
    }
}
