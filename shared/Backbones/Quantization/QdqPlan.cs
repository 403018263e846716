using Onnx;

namespace BottleneckPipeline.Quantization;

/// <summary>
/// Which nodes of a float graph get int8 kernels and which activation tensors need a calibrated
/// range for that: every Conv, and every MatMul/Gemm whose weight is an initializer, that the
/// bottleneck depends on (the classifier beyond it is dropped anyway). Their activation input is
/// quantized, and so is their output (after a Relu that alone follows it), because ONNX Runtime fuses
/// DQ -> Conv -> Q into one int8 kernel only when the output is quantized too.
/// </summary>
internal sealed class QdqPlan
{
    public IReadOnlyList<NodeProto> Nodes { get; }
    /// <summary>Activation tensors to quantize, in graph order: each needs a calibrated range.</summary>
    public IReadOnlyList<string> Tensors { get; }

    private QdqPlan(IReadOnlyList<NodeProto> nodes, IReadOnlyList<string> tensors)
    {
        Nodes = nodes;
        Tensors = tensors;
    }

    public static bool IsQuantizable(NodeProto node, ISet<string> initializers) => node.OpType switch
    {
        "Conv" => node.Input.Count >= 2 && initializers.Contains(node.Input[1]),
        "MatMul" or "Gemm" => node.Input.Count >= 2 && initializers.Contains(node.Input[1]) && !initializers.Contains(node.Input[0]),
        _ => false,
    };

    /// <param name="floatStem">Leave float32 each Conv that reads a graph input (the image): quantizing the
    /// image and the stem's weights is where accuracy goes first, but the float stem costs speed (docs/int8.md).</param>
    public static QdqPlan For(GraphProto graph, string bottleneck, bool floatStem = false)
    {
        var inputs = graph.Input.Select(i => i.Name).Except(graph.Initializer.Select(i => i.Name)).ToHashSet(StringComparer.Ordinal);
        return For(graph, bottleneck, n => floatStem && n.OpType == "Conv" && inputs.Contains(n.Input[0]));
    }

    /// <param name="keepFloat">Nodes to leave float32 although they could be quantized.</param>
    public static QdqPlan For(GraphProto graph, string bottleneck, Func<NodeProto, bool> keepFloat)
    {
        var initializers = graph.Initializer.Select(i => i.Name).ToHashSet(StringComparer.Ordinal);
        var links = GraphLinks.Of(graph);
        var (producer, consumers) = (links.Producer, links.Consumers);
        var needed = Ancestors(bottleneck, producer);
        var nodes = graph.Node.Where(n => needed.Contains(n) && IsQuantizable(n, initializers) && !keepFloat(n)).ToList();
        var tensors = new List<string>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        void Add(string t)
        {
            if (seen.Add(t)) tensors.Add(t);
        }
        foreach (var n in nodes)
        {
            Add(n.Input[0]);
            var output = n.Output[0];
            // A Relu that alone follows: quantize its output (range from 0); ONNX Runtime then drops the
            // Relu, since a Q whose zero point is the type's minimum clips at 0 anyway.
            if (consumers.GetValueOrDefault(output) is [{ OpType: "Relu" } relu] && !graph.Output.Any(o => o.Name == output))
                output = relu.Output[0];
            Add(output);
        }
        // Graph order, so calibration outputs and Q/DQ insertion follow the same sequence every time.
        var order = graph.Node.SelectMany(n => n.Output).Select((t, i) => (t, i)).ToDictionary(x => x.t, x => x.i, StringComparer.Ordinal);
        return new QdqPlan(nodes, [.. tensors.OrderBy(t => order.GetValueOrDefault(t, -1))]);
    }

    private static HashSet<NodeProto> Ancestors(string tensor, Dictionary<string, NodeProto> producer)
    {
        var result = new HashSet<NodeProto>(ReferenceEqualityComparer.Instance);
        var stack = new Stack<string>([tensor]);
        while (stack.Count > 0)
        {
            if (!producer.TryGetValue(stack.Pop(), out var n) || !result.Add(n)) continue;
            foreach (var i in n.Input) stack.Push(i);
        }
        return result;
    }
}
