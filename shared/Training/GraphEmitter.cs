using Onnx;

namespace BottleneckPipeline.Training;

/// <summary>
/// Appends nodes and constants to the training graph under fresh names (all under one prefix that
/// the forward graph does not use). Constants are typed by the graph's element type and shared
/// when equal, so the backward pass does not multiply small initializers.
/// </summary>
internal sealed class GraphEmitter
{
    public const string Prefix = "bp_train/";
    public GraphProto Graph { get; }
    /// <summary>The floating-point type of activations and weights (float, or double in gradient checks).</summary>
    public TensorProto.Types.DataType ElementType { get; }
    private readonly Dictionary<string, string> _constants = new(StringComparer.Ordinal);
    private int _next;

    public GraphEmitter(GraphProto graph, TensorProto.Types.DataType elementType)
    {
        Graph = graph;
        ElementType = elementType;
    }

    public string Fresh(string hint) => $"{Prefix}{hint}_{_next++}";

    /// <summary>Adds one node with a single output and returns the output's name.</summary>
    public string Op(string opType, string hint, IEnumerable<string> inputs, params AttributeProto[] attributes) =>
        Ops(opType, hint, 1, inputs, attributes)[0];

    public string[] Ops(string opType, string hint, int outputs, IEnumerable<string> inputs, params AttributeProto[] attributes)
    {
        var node = new NodeProto { OpType = opType, Name = Fresh(hint + "/" + opType) };
        node.Input.AddRange(inputs);
        var names = new string[outputs];
        for (var i = 0; i < outputs; i++) names[i] = Fresh(hint);
        node.Output.AddRange(names);
        node.Attribute.AddRange(attributes);
        Graph.Node.Add(node);
        return names;
    }

    /// <summary>Adds a node as given (a forward node copied or rewritten for the training opset).</summary>
    public void Add(NodeProto node) => Graph.Node.Add(node);

    public string Int64s(params long[] values) => Constant("i64:" + string.Join(",", values),
        name => OnnxTensorData.MakeInt64(name, values, values.Length));

    /// <summary>An int64 tensor of the given shape (a Gather's indices); <paramref name="separate"/> gives it an initializer of
    /// its own even where an equal one exists.</summary>
    public string Int64Tensor(long[] values, bool separate, params long[] dims) =>
        Constant($"i64t{(separate ? "/" + _next : "")}:{string.Join(",", dims)}:{string.Join(",", values)}",
            name => OnnxTensorData.MakeInt64(name, values, dims));

    public string Int64Scalar(long value) => Constant("i64s:" + value, name => OnnxTensorData.MakeInt64(name, [value]));

    /// <summary>A scalar of the element type.</summary>
    public string Scalar(double value) => Constant($"r:{value:R}", name => OnnxTensorData.MakeReal(name, ElementType, [value]));

    /// <summary>A tensor of the element type.</summary>
    public string Real(double[] values, params long[] dims) =>
        Constant($"t:{string.Join(",", dims)}:{string.Join(",", values.Select(v => v.ToString("R", System.Globalization.CultureInfo.InvariantCulture)))}",
            name => OnnxTensorData.MakeReal(name, ElementType, values, dims));

    private string Constant(string key, Func<string, TensorProto> make)
    {
        if (_constants.TryGetValue(key, out var name)) return name;
        name = Fresh("const");
        Graph.Initializer.Add(make(name));
        _constants[key] = name;
        return name;
    }

    // Shorthands for the ops every rule uses.
    public string Transpose(string x, string hint, params long[] perm) => Op("Transpose", hint, [x], OnnxAttributes.MakeInts("perm", perm));
    public string Reshape(string x, string hint, params long[] shape) => Op("Reshape", hint, [x, Int64s(shape)]);
    public string ReduceSum(string x, string hint, long[] axes, bool keepDims) =>
        Op("ReduceSum", hint, [x, Int64s(axes)], OnnxAttributes.MakeInt("keepdims", keepDims ? 1 : 0));
    public string Mul(string a, string b, string hint) => Op("Mul", hint, [a, b]);
    public string Add(string a, string b, string hint) => Op("Add", hint, [a, b]);
    public string Shape(string x, string hint) => Op("Shape", hint, [x]);

    /// <summary>Slice over the given axes with steps.</summary>
    public string Slice(string x, string hint, long[] starts, long[] ends, long[] axes, long[]? steps = null) =>
        Op("Slice", hint, steps is null ? [x, Int64s(starts), Int64s(ends), Int64s(axes)] : [x, Int64s(starts), Int64s(ends), Int64s(axes), Int64s(steps)]);
}
