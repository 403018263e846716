using Onnx;

namespace BottleneckPipeline.Quantization;

/// <summary>
/// Rewrites a QDQ graph's convolutions into operator form: each group DequantizeLinear(x),
/// DequantizeLinear(w), [DequantizeLinear(b)] -> Conv -> [Relu] -> QuantizeLinear(y) becomes one
/// standard ONNX QLinearConv reading the quantized x and writing the quantized y, so ONNX Runtime
/// runs its int8 convolution whatever its QDQ fusion rules allow (on x86 they fuse only part of an
/// S8S8 graph). A Relu is absorbed only where y's zero point is its type's minimum (it then clips
/// at 0 anyway). Everything else (Add, pooling) keeps its DequantizeLinear -> float op ->
/// QuantizeLinear form: still standard ONNX, which ONNX Runtime may fuse where it can.
/// </summary>
internal static class OperatorForm
{
    /// <summary>Rewrites the graph in place; returns how many convolutions became QLinearConv.</summary>
    public static int Apply(GraphProto graph)
    {
        var initializers = graph.Initializer.ToDictionary(i => i.Name, StringComparer.Ordinal);
        var graphOutputs = graph.Output.Select(o => o.Name).ToHashSet(StringComparer.Ordinal);
        var links = GraphLinks.Of(graph);
        var (producer, consumers) = (links.Producer, links.Consumers);
        List<NodeProto> Readers(string tensor) => graphOutputs.Contains(tensor) ? [] : consumers.GetValueOrDefault(tensor) ?? [];
        NodeProto? Dequantize(string tensor) => producer.GetValueOrDefault(tensor) is { OpType: "DequantizeLinear" } dq ? dq : null;

        var replaced = new Dictionary<NodeProto, NodeProto>(ReferenceEqualityComparer.Instance);
        var dropped = new HashSet<NodeProto>(ReferenceEqualityComparer.Instance);
        foreach (var conv in graph.Node.Where(n => n.OpType == "Conv"))
        {
            if (Dequantize(conv.Input[0]) is not { } x || Dequantize(conv.Input[1]) is not { } w || !initializers.ContainsKey(w.Input[0])) continue;
            var b = conv.Input.Count >= 3 && conv.Input[2].Length > 0 ? Dequantize(conv.Input[2]) : null;
            if (conv.Input.Count >= 3 && conv.Input[2].Length > 0 && (b is null || !initializers.TryGetValue(b.Input[0], out var bias)
                || bias.DataType != (int)TensorProto.Types.DataType.Int32)) continue;
            NodeProto? relu = null;
            var next = Readers(conv.Output[0]);
            if (next is [{ OpType: "Relu" } r]) (relu, next) = (r, Readers(r.Output[0]));
            if (next is not [{ OpType: "QuantizeLinear" } q] || q.Input.Count < 3 || x.Input.Count < 3) continue;
            if (!initializers.TryGetValue(q.Input[2], out var yZero) || !initializers.TryGetValue(x.Input[2], out var xZero)
                || yZero.DataType != xZero.DataType) continue;
            if (relu is not null && !IsTypeMinimum(yZero)) continue;

            var fused = new NodeProto { OpType = "QLinearConv", Name = conv.Name is { Length: > 0 } ? conv.Name + "_qlinear" : q.Output[0] + "_qlinear" };
            fused.Input.AddRange([x.Input[0], x.Input[1], x.Input[2], w.Input[0], w.Input[1], w.Input[2], q.Input[1], q.Input[2]]);
            if (b is not null) fused.Input.Add(b.Input[0]);
            fused.Output.Add(q.Output[0]);
            fused.Attribute.AddRange(conv.Attribute.Select(a => a.Clone()));
            replaced[conv] = fused;
            dropped.Add(q);
            if (relu is not null) dropped.Add(relu);
        }

        var nodes = graph.Node.Where(n => !dropped.Contains(n)).Select(n => replaced.GetValueOrDefault(n, n)).ToList();
        // The DequantizeLinear nodes only the replaced convolutions read (weights, biases, activations no float op reads).
        while (true)
        {
            var read = nodes.SelectMany(n => n.Input).Concat(graphOutputs).ToHashSet(StringComparer.Ordinal);
            var dead = nodes.Where(n => n.OpType == "DequantizeLinear" && !n.Output.Any(read.Contains)).ToList();
            if (dead.Count == 0) break;
            foreach (var d in dead) nodes.Remove(d);
        }
        graph.Node.Clear();
        graph.Node.AddRange(nodes);
        QdqQuantizer.RemoveUnused(graph);
        return replaced.Count;
    }

    private static bool IsTypeMinimum(TensorProto zeroPoint)
    {
        var raw = zeroPoint.RawData.Length > 0 ? zeroPoint.RawData.ToByteArray() : [.. zeroPoint.Int32Data.Select(v => (byte)v)];
        if (raw.Length != 1) return false;
        return zeroPoint.DataType == (int)TensorProto.Types.DataType.Int8 ? unchecked((sbyte)raw[0]) == sbyte.MinValue : raw[0] == byte.MinValue;
    }
}
