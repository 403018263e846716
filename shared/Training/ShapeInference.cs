using Onnx;

namespace BottleneckPipeline.Training;

/// <summary>
/// Static shapes for the ops CNN backbones use, propagated from the data inputs through the graph in
/// node order. The batch dimension is -1. A tensor whose shape cannot be worked out is left out.
/// </summary>
internal static class ShapeInference
{
    public static Dictionary<string, long[]> Infer(ForwardGraph g, IReadOnlyDictionary<string, long[]> inputShapes)
    {
        var shapes = new Dictionary<string, long[]>(StringComparer.Ordinal);
        foreach (var t in g.Graph.Initializer) shapes[t.Name] = [.. t.Dims];
        foreach (var (name, shape) in inputShapes) shapes[name] = shape;
        foreach (var node in g.Graph.Node)
        {
            long[]? In(int i) => i < node.Input.Count && node.Input[i].Length > 0 ? shapes.GetValueOrDefault(node.Input[i]) : null;
            long[]? result;
            try { result = OutputShape(g, node, In); }
            catch (InvalidDataException) { result = null; }
            if (result is not null) shapes[node.Output[0]] = result;
        }
        return shapes;
    }

    /// <summary>The op types <see cref="OutputShape"/> has a rule for (its switch's cases).</summary>
    private static readonly HashSet<string> Known = new(StringComparer.Ordinal)
    {
        "Constant", "Identity", "Relu", "BatchNormalization", "Dropout", "Sigmoid", "Tanh", "LeakyRelu", "Clip", "Softmax", "LogSoftmax", "Neg", "Exp",
        "Conv", "MaxPool", "AveragePool", "GlobalAveragePool", "GlobalMaxPool", "Add", "Sub", "Mul", "Div", "Sum", "Max", "Min", "Pow",
        "Concat", "Pad", "Flatten", "Reshape", "Squeeze", "Unsqueeze", "Gemm", "MatMul", "Transpose",
    };

    /// <summary>Whether the shape inference has a rule for this op (of the default ONNX domain).</summary>
    public static bool Knows(NodeProto node) => node.Domain is "" or "ai.onnx" && Known.Contains(node.OpType);

    /// <summary>
    /// Why <paramref name="tensor"/> has no shape in <paramref name="shapes"/>: the first node on its
    /// way from the inputs whose inputs all have a shape but whose output has none (an op without a
    /// rule, or one whose shape depends on values known only at run time). Null when the tensor has a
    /// shape, or no node produces it.
    /// </summary>
    public static NodeProto? Blocker(ForwardGraph g, IReadOnlyDictionary<string, long[]> shapes, string tensor)
    {
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var current = tensor;
        while (!shapes.ContainsKey(current) && seen.Add(current) && g.Producer(current) is { } node)
        {
            if (node.Input.Where(i => i.Length > 0).FirstOrDefault(i => !shapes.ContainsKey(i) && g.Producer(i) is not null) is not { } unknown)
                return node;
            current = unknown;
        }
        return null;
    }

    private static long[]? OutputShape(ForwardGraph g, NodeProto node, Func<int, long[]?> input)
    {
        var x = input(0);
        switch (node.OpType)
        {
            case "Constant":
                return node.Attribute.FirstOrDefault(a => a.Name == "value")?.T is { } value ? [.. value.Dims] : null;
            case "Identity" or "Relu" or "BatchNormalization" or "Dropout" or "Sigmoid" or "Tanh" or "LeakyRelu" or "Clip" or "Softmax" or "LogSoftmax"
                or "Neg" or "Exp":
                return x;
            case "Conv":
                {
                    var w = input(1);
                    if (x is not { Length: 4 } || w is not { Length: 4 }) return null;
                    var geo = WindowGeometry.Of(node, x[2], x[3], w);
                    return [x[0], w[0], geo.OutH, geo.OutW];
                }
            case "MaxPool" or "AveragePool":
                {
                    if (x is not { Length: 4 }) return null;
                    var geo = WindowGeometry.Of(node, x[2], x[3]);
                    return [x[0], x[1], geo.OutH, geo.OutW];
                }
            case "GlobalAveragePool" or "GlobalMaxPool":
                return x is { Length: 4 } ? [x[0], x[1], 1, 1] : null;
            case "Add" or "Sub" or "Mul" or "Div" or "Sum" or "Max" or "Min" or "Pow":
                {
                    var result = x;
                    for (var i = 1; i < node.Input.Count; i++)
                    {
                        if (result is null || input(i) is not { } other) return null;
                        result = Broadcast(result, other);
                    }
                    return result;
                }
            case "Concat":
                {
                    if (x is null) return null;
                    var axis = Axis(OnnxAttributes.Int(node, "axis", 0), x.Length);
                    var result = (long[])x.Clone();
                    for (var i = 1; i < node.Input.Count; i++)
                    {
                        if (input(i) is not { } other) return null;
                        result[axis] = result[axis] < 0 || other[axis] < 0 ? -1 : result[axis] + other[axis];
                    }
                    return result;
                }
            case "Pad":
                {
                    if (x is null || PadAmounts(g, node) is not { } pads) return null;
                    return [.. x.Select((d, i) => d < 0 ? -1 : d + pads[i] + pads[i + x.Length])];
                }
            case "Flatten":
                {
                    if (x is null) return null;
                    var axis = Axis(OnnxAttributes.Int(node, "axis", 1), x.Length);
                    return [Product(x[..axis]), Product(x[axis..])];
                }
            case "Reshape":
                {
                    var target = node.Input.Count > 1
                        ? g.ConstantValue(node.Input[1]) is { } t ? OnnxTensorData.ReadInt64s(t) : null
                        : OnnxAttributes.Ints(node, "shape");
                    return x is null || target is null ? null : Reshaped(x, target);
                }
            case "Squeeze" or "Unsqueeze":
                {
                    var axes = node.Input.Count > 1
                        ? g.ConstantValue(node.Input[1]) is { } t ? OnnxTensorData.ReadInt64s(t) : null
                        : OnnxAttributes.Ints(node, "axes");
                    if (x is null || axes is null) return null;
                    if (node.OpType == "Squeeze")
                    {
                        var drop = axes.Select(a => Axis(a, x.Length)).ToHashSet();
                        return [.. x.Where((_, i) => !drop.Contains(i))];
                    }
                    var rank = x.Length + axes.Length;
                    var add = axes.Select(a => Axis(a, rank)).ToHashSet();
                    var result = new long[rank];
                    for (int i = 0, j = 0; i < rank; i++) result[i] = add.Contains(i) ? 1 : x[j++];
                    return result;
                }
            case "Gemm":
                {
                    var b = input(1);
                    if (x is not { Length: 2 } || b is not { Length: 2 }) return null;
                    var m = OnnxAttributes.Int(node, "transA", 0) != 0 ? x[1] : x[0];
                    var n = OnnxAttributes.Int(node, "transB", 0) != 0 ? b[0] : b[1];
                    return [m, n];
                }
            case "MatMul":
                {
                    var b = input(1);
                    if (x is null || b is null || x.Length < 2 || b.Length < 2) return null;
                    var batch = Broadcast(x[..^2], b[..^2]);
                    return [.. batch, x[^2], b[^1]];
                }
            case "Transpose":
                {
                    if (x is null) return null;
                    var perm = OnnxAttributes.Ints(node, "perm") ?? [.. Enumerable.Range(0, x.Length).Reverse().Select(i => (long)i)];
                    return [.. perm.Select(p => x[p])];
                }
            default:
                return null;
        }
    }

    /// <summary>Pad's amounts (begin for every axis, then end), from its attribute (opset &lt; 11) or constant input.</summary>
    public static long[]? PadAmounts(ForwardGraph g, NodeProto node) =>
        OnnxAttributes.Ints(node, "pads") ?? (node.Input.Count > 1 && g.ConstantValue(node.Input[1]) is { } t ? OnnxTensorData.ReadInt64s(t) : null);

    public static int Axis(long axis, int rank) => (int)(axis < 0 ? axis + rank : axis);

    /// <summary>The numpy broadcast of two shapes; -1 (the batch) wins over 1.</summary>
    public static long[] Broadcast(long[] a, long[] b)
    {
        var rank = Math.Max(a.Length, b.Length);
        var result = new long[rank];
        for (var i = 0; i < rank; i++)
        {
            var da = i - (rank - a.Length) >= 0 ? a[i - (rank - a.Length)] : 1;
            var db = i - (rank - b.Length) >= 0 ? b[i - (rank - b.Length)] : 1;
            result[i] = da == db ? da : da == 1 ? db : db == 1 ? da : da < 0 || db < 0 ? -1
                : throw new InvalidDataException($"shapes [{string.Join(",", a)}] and [{string.Join(",", b)}] do not broadcast");
        }
        return result;
    }

    private static long Product(long[] dims) => dims.Any(d => d < 0) ? -1 : dims.Aggregate(1L, (p, d) => p * d);

    private static long[]? Reshaped(long[] x, long[] target)
    {
        var result = target.Select((d, i) => d == 0 && i < x.Length ? x[i] : d).ToArray();
        var inferred = Array.IndexOf(target, -1L);
        if (inferred < 0) return result;
        var others = result.Where((_, i) => i != inferred).ToArray();
        var known = x.Where(d => d >= 0).Aggregate(1L, (p, d) => p * d);
        var rest = others.Where(d => d >= 0).Aggregate(1L, (p, d) => p * d);
        // A symbolic batch either passes through another dim (copied by a 0), or lands in the inferred one.
        var batchElsewhere = others.Any(d => d < 0);
        result[inferred] = x.Any(d => d < 0) && !batchElsewhere ? -1 : rest == 0 ? 0 : known / rest;
        return result;
    }
}
