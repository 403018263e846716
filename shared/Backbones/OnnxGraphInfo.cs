using Onnx;

namespace BottleneckPipeline.Backbones;

/// <summary>
/// Read-only facts about an ONNX graph that choosing a bottleneck needs: the real inputs (not
/// initializers), the outputs, which node produces each tensor, and known tensor shapes.
/// </summary>
public sealed class OnnxGraphInfo
{
    public GraphProto Graph { get; }
    public IReadOnlyList<ValueInfoProto> Inputs { get; }
    public IReadOnlyList<ValueInfoProto> Outputs { get; }
    private readonly Dictionary<string, NodeProto> _producer = new(StringComparer.Ordinal);
    private readonly Dictionary<string, TensorProto> _initializers = new(StringComparer.Ordinal);
    private readonly Dictionary<string, ValueInfoProto> _valueInfo = new(StringComparer.Ordinal);

    public OnnxGraphInfo(GraphProto graph)
    {
        Graph = graph;
        foreach (var init in graph.Initializer) _initializers[init.Name] = init;
        foreach (var n in graph.Node)
            foreach (var o in n.Output) _producer[o] = n;
        foreach (var v in graph.ValueInfo) _valueInfo[v.Name] = v;
        foreach (var v in graph.Input) _valueInfo[v.Name] = v;
        foreach (var v in graph.Output) _valueInfo[v.Name] = v;
        Inputs = [.. graph.Input.Where(i => !_initializers.ContainsKey(i.Name))];
        Outputs = [.. graph.Output];
    }

    public NodeProto? Producer(string tensor) => _producer.GetValueOrDefault(tensor);

    public TensorProto? Initializer(string name) => _initializers.GetValueOrDefault(name);

    public bool IsGraphOutput(string tensor) => Outputs.Any(o => o.Name == tensor);

    /// <summary>Whether a tensor of this name exists anywhere: graph input, node output or initializer.</summary>
    public bool HasTensor(string name) => _producer.ContainsKey(name) || Inputs.Any(i => i.Name == name);

    /// <summary>Known dims of a tensor (-1 where symbolic or unknown), or null when no shape is recorded.</summary>
    public long[]? Shape(string tensor)
    {
        if (!_valueInfo.TryGetValue(tensor, out var v) || v.Type?.TensorType?.Shape is not { } shape) return null;
        return [.. shape.Dim.Select(d => d.ValueCase == TensorShapeProto.Types.Dimension.ValueOneofCase.DimValue ? d.DimValue : -1L)];
    }

    public static string ShowShape(long[]? dims) =>
        dims is null ? "[?]" : "[" + string.Join(",", dims.Select(d => d < 0 ? "N" : d.ToString(System.Globalization.CultureInfo.InvariantCulture))) + "]";

    /// <summary>Tensors that could serve as a bottleneck: outputs of pooling, flattening and reshaping
    /// nodes and the inputs of Gemm/MatMul, latest first, for error messages.</summary>
    public IReadOnlyList<string> CandidateTensors(int max = 12)
    {
        var result = new List<string>();
        foreach (var n in Graph.Node.Reverse())
        {
            if (n.OpType is "Gemm" or "MatMul") result.Add(n.Input[0]);
            else if (n.OpType is "GlobalAveragePool" or "AveragePool" or "MaxPool" or "GlobalMaxPool" or "Flatten" or "Reshape" or "Squeeze" or "ReduceMean")
                result.Add(n.Output[0]);
            if (result.Count >= max) break;
        }
        return [.. result.Distinct().Take(max)];
    }

    public string Describe() =>
        $"inputs: {string.Join(", ", Inputs.Select(i => i.Name + ShowShape(Shape(i.Name))))}; " +
        $"outputs: {string.Join(", ", Outputs.Select(o => o.Name + ShowShape(Shape(o.Name))))}; " +
        $"candidate bottleneck tensors: {string.Join(", ", CandidateTensors().Select(t => t + ShowShape(Shape(t))))}";
}
