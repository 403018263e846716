using System.Runtime.InteropServices;
using Google.Protobuf;
using Onnx;

namespace BottleneckPipeline.Quantization;

/// <summary>Activation x weight integer types. Weights are always signed (symmetric int8).</summary>
internal enum QdqFormat { S8S8, U8S8 }

/// <summary>
/// Rewrites a float graph into QDQ form: each planned activation tensor T becomes
/// T -> QuantizeLinear -> DequantizeLinear -> (every former reader of T), with its calibrated scale
/// and zero point; each planned node's weight becomes an int8 initializer read through a per-channel
/// DequantizeLinear (symmetric: zero points 0, scale max|w| / 127 per output channel), and its bias an
/// int32 initializer at scale input-scale x weight-scale. ONNX Runtime's CPU provider fuses these
/// groups into its int8 kernels (QLinearConv, QGemm, QLinearMatMul).
/// </summary>
internal static class QdqQuantizer
{
    public const string Suffix = "_bp_int8";
    /// <summary>The opset Q/DQ with a per-channel axis needs.</summary>
    public const int MinimumOpset = 13;

    public static void Apply(ModelProto model, QdqPlan plan, IReadOnlyDictionary<string, (float Low, float High)> ranges, QdqFormat format)
    {
        var graph = model.Graph;
        RaiseOpset(model);
        var initializers = graph.Initializer.ToDictionary(i => i.Name, StringComparer.Ordinal);
        var activation = new Dictionary<string, (float Scale, int ZeroPoint)>(StringComparer.Ordinal);
        var newInitializers = new List<TensorProto>();
        foreach (var t in plan.Tensors)
        {
            var (low, high) = ranges[t];
            var p = ActivationParameters(low, high, format);
            activation[t] = p;
            newInitializers.Add(Scalar(t + Suffix + "_scale", p.Scale));
            newInitializers.Add(ZeroPointScalar(t + Suffix + "_zero_point", p.ZeroPoint, format));
        }

        // By reference: a protobuf message's hash follows its contents, which the rewiring below changes.
        var planned = plan.Nodes.ToHashSet(ReferenceEqualityComparer.Instance);
        var weightScales = new Dictionary<string, float[]>(StringComparer.Ordinal);
        var nodes = new List<NodeProto>();
        var graphInputs = graph.Input.Select(i => i.Name).ToHashSet(StringComparer.Ordinal);
        foreach (var t in plan.Tensors.Where(graphInputs.Contains)) nodes.AddRange(QuantizePair(t));
        foreach (var node in graph.Node)
        {
            // Every reader of a quantized tensor reads its dequantized copy.
            for (var k = 0; k < node.Input.Count; k++)
                if (activation.ContainsKey(node.Input[k])) node.Input[k] = node.Input[k] + Suffix + "_dq";
            if (planned.Contains(node))
            {
                var weightName = node.Input[1];
                var axis = WeightAxis(node, initializers[weightName]);
                if (!weightScales.TryGetValue(weightName + "@" + axis, out var scales))
                {
                    var (q, s) = QuantizeWeight(initializers[weightName], axis);
                    weightScales[weightName + "@" + axis] = scales = s;
                    newInitializers.Add(q);
                    newInitializers.Add(Vector(weightName + Suffix + $"_a{axis}_scale", s));
                    newInitializers.Add(Int8Zeros(weightName + Suffix + $"_a{axis}_zero_point", s.Length));
                    nodes.Add(Dequantize(weightName + Suffix + $"_a{axis}", weightName + Suffix + $"_a{axis}_scale",
                        weightName + Suffix + $"_a{axis}_zero_point", weightName + Suffix + $"_a{axis}_w", axis));
                }
                node.Input[1] = weightName + Suffix + $"_a{axis}_w";
                var inputTensor = node.Input[0].EndsWith(Suffix + "_dq", StringComparison.Ordinal) ? node.Input[0][..^(Suffix.Length + 3)] : null;
                if (node.Input.Count >= 3 && initializers.TryGetValue(node.Input[2], out var bias) && inputTensor is not null
                    && BiasFits(bias, scales.Length))
                {
                    var name = node.Name is { Length: > 0 } ? node.Name : node.Output[0];
                    var biasScales = scales.Select(s => s * activation[inputTensor].Scale).ToArray();
                    var prefix = node.Input[2] + Suffix + "_" + Sanitize(name);
                    newInitializers.Add(QuantizeBias(bias, biasScales, prefix + "_q"));
                    newInitializers.Add(Vector(prefix + "_scale", biasScales));
                    newInitializers.Add(Int32Zeros(prefix + "_zero_point", biasScales.Length));
                    nodes.Add(Dequantize(prefix + "_q", prefix + "_scale", prefix + "_zero_point", prefix + "_b", 0));
                    node.Input[2] = prefix + "_b";
                }
            }
            nodes.Add(node);
            foreach (var o in node.Output)
                if (activation.ContainsKey(o)) nodes.AddRange(QuantizePair(o));
        }
        graph.Node.Clear();
        graph.Node.AddRange(nodes);
        graph.Initializer.AddRange(newInitializers);
        RemoveUnused(graph);
    }

    /// <summary>Asymmetric activation parameters over [low, high] (which holds 0, so 0 is exact).</summary>
    public static (float Scale, int ZeroPoint) ActivationParameters(float low, float high, QdqFormat format)
    {
        var (qmin, qmax) = format == QdqFormat.S8S8 ? (-128, 127) : (0, 255);
        // A tensor that is always 0 (an untrained model) still needs a positive scale.
        var scale = Math.Max((high - low) / (qmax - qmin), 1e-8f);
        var zeroPoint = (int)Math.Clamp(Math.Round(qmin - low / scale), qmin, qmax);
        return (scale, zeroPoint);
    }

    /// <summary>Output channels: axis 0 for Conv, the N axis of a MatMul [K, N] or Gemm weight.</summary>
    private static int WeightAxis(NodeProto node, TensorProto weight) => node.OpType switch
    {
        "Conv" => 0,
        "Gemm" => node.Attribute.FirstOrDefault(a => a.Name == "transB")?.I == 1 ? 0 : 1,
        _ => weight.Dims.Count - 1,
    };

    private static bool BiasFits(TensorProto bias, int channels) =>
        bias.DataType == (int)TensorProto.Types.DataType.Float && bias.Dims.Count == 1 && bias.Dims[0] == channels;

    public static float[] FloatValues(TensorProto t) =>
        t.RawData.Length > 0 ? MemoryMarshal.Cast<byte, float>(t.RawData.Span).ToArray() : [.. t.FloatData];

    /// <summary>Per-channel symmetric int8 along <paramref name="axis"/>: scale max|w| / 127, zero point 0.</summary>
    private static (TensorProto Quantized, float[] Scales) QuantizeWeight(TensorProto weight, int axis)
    {
        if (weight.DataType != (int)TensorProto.Types.DataType.Float)
            throw new InvalidOperationException($"weight {weight.Name} is not float32");
        var w = FloatValues(weight);
        var dims = weight.Dims.ToArray();
        var channels = (int)dims[axis];
        var inner = 1L;
        for (var d = axis + 1; d < dims.Length; d++) inner *= dims[d];
        int Channel(long index) => (int)(index / inner % channels);
        var maxAbs = new float[channels];
        for (long i = 0; i < w.Length; i++) maxAbs[Channel(i)] = Math.Max(maxAbs[Channel(i)], Math.Abs(w[i]));
        // An all-zero channel (zero-weight models) gets scale 1: its values are 0 whatever the scale.
        var scales = maxAbs.Select(m => m > 0 ? m / 127f : 1f).ToArray();
        var q = new byte[w.Length];
        for (long i = 0; i < w.Length; i++)
            q[i] = unchecked((byte)(sbyte)Math.Clamp(MathF.Round(w[i] / scales[Channel(i)], MidpointRounding.ToEven), -127, 127));
        var t = new TensorProto
        {
            Name = weight.Name + Suffix + $"_a{axis}",
            DataType = (int)TensorProto.Types.DataType.Int8,
            RawData = ByteString.CopyFrom(q),
        };
        t.Dims.AddRange(dims);
        return (t, scales);
    }

    private static TensorProto QuantizeBias(TensorProto bias, float[] scales, string name)
    {
        var b = FloatValues(bias);
        var q = new int[b.Length];
        for (var i = 0; i < b.Length; i++) q[i] = (int)Math.Clamp(Math.Round((double)b[i] / scales[i]), int.MinValue + 1, int.MaxValue);
        var t = new TensorProto
        {
            Name = name,
            DataType = (int)TensorProto.Types.DataType.Int32,
            RawData = ByteString.CopyFrom(MemoryMarshal.AsBytes(q.AsSpan())),
        };
        t.Dims.Add(b.Length);
        return t;
    }

    private static NodeProto[] QuantizePair(string tensor) =>
    [
        Node("QuantizeLinear", tensor + Suffix + "_q", [tensor, tensor + Suffix + "_scale", tensor + Suffix + "_zero_point"], tensor + Suffix + "_quantized"),
        Node("DequantizeLinear", tensor + Suffix + "_dq",
            [tensor + Suffix + "_quantized", tensor + Suffix + "_scale", tensor + Suffix + "_zero_point"], tensor + Suffix + "_dq"),
    ];

    private static NodeProto Dequantize(string input, string scale, string zeroPoint, string output, int axis)
    {
        var n = Node("DequantizeLinear", output, [input, scale, zeroPoint], output);
        n.Attribute.Add(new AttributeProto { Name = "axis", Type = AttributeProto.Types.AttributeType.Int, I = axis });
        return n;
    }

    private static NodeProto Node(string op, string name, string[] inputs, string output)
    {
        var n = new NodeProto { OpType = op, Name = name };
        n.Input.AddRange(inputs);
        n.Output.Add(output);
        return n;
    }

    private static TensorProto Scalar(string name, float value) =>
        new() { Name = name, DataType = (int)TensorProto.Types.DataType.Float, FloatData = { value } };

    private static TensorProto ZeroPointScalar(string name, int value, QdqFormat format) => format == QdqFormat.S8S8
        ? new() { Name = name, DataType = (int)TensorProto.Types.DataType.Int8, RawData = ByteString.CopyFrom([unchecked((byte)(sbyte)value)]) }
        : new() { Name = name, DataType = (int)TensorProto.Types.DataType.Uint8, RawData = ByteString.CopyFrom([(byte)value]) };

    private static TensorProto Vector(string name, float[] values)
    {
        var t = new TensorProto
        {
            Name = name,
            DataType = (int)TensorProto.Types.DataType.Float,
            RawData = ByteString.CopyFrom(MemoryMarshal.AsBytes(values.AsSpan())),
        };
        t.Dims.Add(values.Length);
        return t;
    }

    private static TensorProto Int8Zeros(string name, int count)
    {
        var t = new TensorProto { Name = name, DataType = (int)TensorProto.Types.DataType.Int8, RawData = ByteString.CopyFrom(new byte[count]) };
        t.Dims.Add(count);
        return t;
    }

    private static TensorProto Int32Zeros(string name, int count)
    {
        var t = new TensorProto { Name = name, DataType = (int)TensorProto.Types.DataType.Int32, RawData = ByteString.CopyFrom(new byte[4 * count]) };
        t.Dims.Add(count);
        return t;
    }

    private static string Sanitize(string s) => new([.. s.Select(c => char.IsLetterOrDigit(c) || c == '_' ? c : '_')]);

    private static void RaiseOpset(ModelProto model)
    {
        var onnx = model.OpsetImport.FirstOrDefault(o => o.Domain is "" or "ai.onnx");
        if (onnx is null) model.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = MinimumOpset });
        else if (onnx.Version < MinimumOpset) onnx.Version = MinimumOpset;
        if (model.IrVersion < 7) model.IrVersion = 7;
    }

    /// <summary>Drops the float weights the int8 copies replaced (and any other initializer no node reads).</summary>
    internal static void RemoveUnused(GraphProto graph)
    {
        var used = graph.Node.SelectMany(n => n.Input).Concat(graph.Output.Select(o => o.Name)).ToHashSet(StringComparer.Ordinal);
        var unused = graph.Initializer.Where(i => !used.Contains(i.Name)).ToList();
        foreach (var i in unused) graph.Initializer.Remove(i);
        var unusedInputs = graph.Input.Where(i => unused.Any(u => u.Name == i.Name)).ToList();
        foreach (var i in unusedInputs) graph.Input.Remove(i);
    }
}
