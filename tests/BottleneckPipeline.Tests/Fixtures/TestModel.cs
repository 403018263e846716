using BottleneckPipeline.Head;
using BottleneckPipeline.Training;
using Onnx;
using DataType = Onnx.TensorProto.Types.DataType;

namespace BottleneckPipeline.Tests.Fixtures;

/// <summary>
/// A small forward ONNX model written in a test: one data input, random weights as initializers
/// (drawn from a seeded generator) and nodes added one by one, in float or double.
/// </summary>
internal sealed class TestModel
{
    public ModelProto Model { get; }
    public DataType ElementType { get; }
    public string Input { get; }
    public long[] InputShape { get; }
    public List<string> Weights { get; } = [];
    private readonly SeededRandom _random;
    private int _next;

    public TestModel(long[] inputShape, DataType elementType = DataType.Float, int opset = 13, long seed = 1, string input = "x")
    {
        ElementType = elementType;
        Input = input;
        InputShape = inputShape;
        _random = new SeededRandom(seed);
        Model = new ModelProto { IrVersion = 8, Graph = new GraphProto { Name = "test" } };
        Model.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = opset });
        Model.Graph.Input.Add(OnnxTensorData.ValueInfo(input, elementType, [-1, .. inputShape[1..]]));
    }

    /// <summary>A random weight initializer (Gaussian times <paramref name="scale"/>, plus <paramref name="offset"/>).</summary>
    public string Weight(string name, long[] dims, double scale = 0.5, double offset = 0)
    {
        var count = dims.Aggregate(1L, (p, d) => p * d);
        var values = Enumerable.Range(0, (int)count).Select(_ => offset + scale * _random.NextGaussian()).ToArray();
        Model.Graph.Initializer.Add(OnnxTensorData.MakeReal(name, ElementType, values, dims));
        Weights.Add(name);
        return name;
    }

    /// <summary>A constant that is not a weight (BatchNorm statistics, for example).</summary>
    public string Constant(string name, double[] values, params long[] dims)
    {
        Model.Graph.Initializer.Add(OnnxTensorData.MakeReal(name, ElementType, values, dims));
        return name;
    }

    public string Int64s(string name, params long[] values)
    {
        Model.Graph.Initializer.Add(OnnxTensorData.MakeInt64(name, values, values.Length));
        return name;
    }

    public string Node(string op, string[] inputs, params AttributeProto[] attributes) => Nodes(op, inputs, 1, attributes)[0];

    public string[] Nodes(string op, string[] inputs, int outputs, params AttributeProto[] attributes)
    {
        var node = new NodeProto { OpType = op, Name = $"{op.ToLowerInvariant()}_{_next}" };
        node.Input.AddRange(inputs);
        var names = Enumerable.Range(0, outputs).Select(i => $"{op.ToLowerInvariant()}_{_next}_out{i}").ToArray();
        _next++;
        node.Output.AddRange(names);
        node.Attribute.AddRange(attributes);
        Model.Graph.Node.Add(node);
        return names;
    }

    public void Output(string tensor) => Model.Graph.Output.Add(OnnxTensorData.ValueInfo(tensor, ElementType, null));

    /// <summary>BatchNorm's statistics: positive variances, means near zero.</summary>
    public string[] BatchNormInputs(string prefix, long channels) =>
    [
        Weight(prefix + ".scale", [channels], 0.3, 1.0),
        Weight(prefix + ".bias", [channels], 0.3),
        Constant(prefix + ".mean", [.. Enumerable.Range(0, (int)channels).Select(_ => 0.2 * _random.NextGaussian())], channels),
        Constant(prefix + ".var", [.. Enumerable.Range(0, (int)channels).Select(_ => 0.5 + _random.NextDouble())], channels),
    ];

    public TrainableRegion Region(string output, IEnumerable<string>? trainable = null) => new()
    {
        Model = Model,
        CutTensor = Input,
        CutShape = [-1, .. InputShape[1..]],
        OutputTensor = output,
        Trainable = (trainable ?? Weights).ToHashSet(StringComparer.Ordinal),
    };

    public static AttributeProto Ints(string name, params long[] values) => OnnxAttributes.MakeInts(name, values);
    public static AttributeProto Int(string name, long value) => OnnxAttributes.MakeInt(name, value);
    public static AttributeProto Float(string name, float value) => OnnxAttributes.MakeFloat(name, value);
    public static AttributeProto String(string name, string value) => OnnxAttributes.MakeString(name, value);
}
