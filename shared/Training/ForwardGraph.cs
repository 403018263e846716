using Onnx;

namespace BottleneckPipeline.Training;

/// <summary>
/// Read-only index of a forward ONNX graph for the training engine: who produces and consumes each
/// tensor, the initializers, the values of constant tensors, and static shapes (batch as -1).
/// </summary>
internal sealed class ForwardGraph
{
    public ModelProto Model { get; }
    public GraphProto Graph => Model.Graph;
    /// <summary>The default-domain opset the model was written for.</summary>
    public long Opset { get; }
    private readonly Dictionary<string, NodeProto> _producer = new(StringComparer.Ordinal);
    private readonly Dictionary<string, List<NodeProto>> _consumers = new(StringComparer.Ordinal);
    private readonly Dictionary<string, TensorProto> _initializers = new(StringComparer.Ordinal);

    public ForwardGraph(ModelProto model)
    {
        Model = model;
        Opset = model.OpsetImport.Where(o => o.Domain is "" or "ai.onnx").Select(o => o.Version).DefaultIfEmpty(1).Max();
        foreach (var t in model.Graph.Initializer) _initializers[t.Name] = t;
        foreach (var n in model.Graph.Node)
        {
            foreach (var o in n.Output) _producer[o] = n;
            foreach (var i in n.Input.Where(i => i.Length > 0))
            {
                if (!_consumers.TryGetValue(i, out var list)) _consumers[i] = list = [];
                if (!list.Contains(n)) list.Add(n);
            }
        }
    }

    public NodeProto? Producer(string tensor) => _producer.GetValueOrDefault(tensor);

    public IReadOnlyList<NodeProto> Consumers(string tensor) => _consumers.TryGetValue(tensor, out var l) ? l : [];

    public TensorProto? Initializer(string name) => _initializers.GetValueOrDefault(name);

    public bool IsInitializer(string name) => _initializers.ContainsKey(name);

    /// <summary>The graph's data inputs: inputs that are not initializers.</summary>
    public IEnumerable<ValueInfoProto> DataInputs => Graph.Input.Where(i => !_initializers.ContainsKey(i.Name));

    /// <summary>The value of a constant tensor (an initializer or a Constant node's output), or null.</summary>
    public TensorProto? ConstantValue(string name)
    {
        if (_initializers.TryGetValue(name, out var t)) return t;
        if (_producer.TryGetValue(name, out var n) && n.OpType == "Constant")
            return n.Attribute.FirstOrDefault(a => a.Name == "value")?.T;
        return null;
    }

    /// <summary>Follows Identity nodes back from a tensor to the initializer it copies, if any.</summary>
    public string? InitializerBehind(string tensor)
    {
        for (var hops = 0; hops < 16; hops++)
        {
            if (_initializers.ContainsKey(tensor)) return tensor;
            if (Producer(tensor) is not { OpType: "Identity" } id) return null;
            tensor = id.Input[0];
        }
        return null;
    }

    /// <summary>Element type of a tensor when the graph records it (inputs, outputs, value infos, initializers).</summary>
    public TensorProto.Types.DataType? ElementType(string tensor)
    {
        if (_initializers.TryGetValue(tensor, out var t)) return (TensorProto.Types.DataType)t.DataType;
        var v = Graph.Input.Concat(Graph.Output).Concat(Graph.ValueInfo).FirstOrDefault(v => v.Name == tensor);
        return v?.Type?.TensorType is { } tt ? (TensorProto.Types.DataType)tt.ElemType : null;
    }

    /// <summary>Static shapes of every tensor reachable from the data inputs, given their shapes (batch as -1).</summary>
    public Dictionary<string, long[]> InferShapes(IReadOnlyDictionary<string, long[]> inputShapes) =>
        ShapeInference.Infer(this, inputShapes);
}
