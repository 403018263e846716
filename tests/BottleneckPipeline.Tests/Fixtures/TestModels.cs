using Google.Protobuf;
using Onnx;

namespace BottleneckPipeline.Tests.Fixtures;

/// <summary>ONNX models a test builds for itself in C# (no Python, no torch): variants of a real
/// model, and tiny graphs whose output is known for any input.</summary>
public static class TestModels
{
    /// <summary>
    /// The same model taking channels-last input: a Transpose (NHWC -> NCHW) in front of its only
    /// input, as TensorFlow exports look. Everything after the Transpose is the original graph.
    /// </summary>
    public static void WriteNhwcVariant(string nchwModel, string destination)
    {
        var model = ModelProto.Parser.ParseFrom(File.ReadAllBytes(nchwModel));
        var g = model.Graph;
        var initializers = g.Initializer.Select(i => i.Name).ToHashSet();
        var input = g.Input.Single(i => !initializers.Contains(i.Name));
        var dims = input.Type.TensorType.Shape.Dim;
        var nhwc = Info("pixels_nhwc", [dims[0], dims[2], dims[3], dims[1]]);
        var transpose = new NodeProto { OpType = "Transpose", Name = "nhwc_to_nchw" };
        transpose.Input.Add(nhwc.Name);
        transpose.Output.Add(input.Name);
        transpose.Attribute.Add(new AttributeProto { Name = "perm", Type = AttributeProto.Types.AttributeType.Ints, Ints = { 0, 3, 1, 2 } });
        g.Input.Remove(input);
        g.Input.Insert(0, nhwc);
        g.Node.Insert(0, transpose);
        File.WriteAllBytes(destination, model.ToByteArray());
    }

    /// <summary>
    /// x [N,3,8,8] -> Relu(x - 2) -> GlobalAveragePool -> Flatten = "features" [N,3]: a model that
    /// expects pixels on the 0..255 scale. Fed [-1, 1] (inception) or ImageNet-normalized values, every
    /// unit is cut off and the vector is all zeros.
    /// </summary>
    public static void WriteExpects0To255(string destination) =>
        Write(destination, "relu_of_x_minus_2", x =>
        {
            var two = new TensorProto { Name = "two", DataType = (int)TensorProto.Types.DataType.Float, FloatData = { 2f } };
            return ([Node("Sub", [x, "two"], "shifted"), Node("Relu", ["shifted"], "cut")], "cut", [two]);
        });

    /// <summary>x [N,3,8,8] -> Sqrt -> GlobalAveragePool -> Flatten: defined only for inputs &gt;= 0,
    /// so any zero-centred normalization gives NaN.</summary>
    public static void WriteExpectsNonNegative(string destination) =>
        Write(destination, "sqrt_of_x", x => ([Node("Sqrt", [x], "root")], "root", []));

    /// <summary>x [N,3,8,8] -> x * scale + offset (per channel) -> GlobalAveragePool -> Flatten: each image's
    /// mean colour, scaled, plus a fixed vector. A tiny scale gives practically zero vectors; with an offset,
    /// vectors nearly the same whatever the image (a network whose output is its biases).</summary>
    public static void WriteScaledMeanColour(string destination, float scale, float[] offset) =>
        Write(destination, "scaled_mean_colour", x =>
        {
            var s = new TensorProto { Name = "scale", DataType = (int)TensorProto.Types.DataType.Float, FloatData = { scale } };
            var o = new TensorProto { Name = "offset", DataType = (int)TensorProto.Types.DataType.Float, Dims = { 1, 3, 1, 1 } };
            o.FloatData.AddRange(offset);
            return ([Node("Mul", [x, "scale"], "scaled"), Node("Add", ["scaled", "offset"], "shifted")], "shifted", [s, o]);
        });

    private static void Write(string destination, string name, Func<string, (NodeProto[] Nodes, string Output, TensorProto[] Initializers)> body)
    {
        var model = new ModelProto { IrVersion = 7, ProducerName = "BottleneckPipeline.Tests", Graph = new GraphProto { Name = name } };
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = 13 });
        var g = model.Graph;
        g.Input.Add(Info("x", [Dim("N"), Dim(3), Dim(8), Dim(8)]));
        var (nodes, last, initializers) = body("x");
        g.Node.AddRange(nodes);
        g.Node.Add(Node("GlobalAveragePool", [last], "pooled"));
        g.Node.Add(Node("Flatten", ["pooled"], "features"));
        g.Initializer.AddRange(initializers);
        g.Output.Add(Info("features", [Dim("N"), Dim(3)]));
        File.WriteAllBytes(destination, model.ToByteArray());
    }

    private static NodeProto Node(string op, string[] inputs, string output)
    {
        var n = new NodeProto { OpType = op, Name = output + "_" + op };
        n.Input.AddRange(inputs);
        n.Output.Add(output);
        return n;
    }

    private static TensorShapeProto.Types.Dimension Dim(long value) => new() { DimValue = value };
    private static TensorShapeProto.Types.Dimension Dim(string param) => new() { DimParam = param };

    private static ValueInfoProto Info(string name, IEnumerable<TensorShapeProto.Types.Dimension> dims)
    {
        var shape = new TensorShapeProto();
        foreach (var d in dims) shape.Dim.Add(d.Clone());
        return new ValueInfoProto
        {
            Name = name,
            Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)TensorProto.Types.DataType.Float, Shape = shape } },
        };
    }
}
