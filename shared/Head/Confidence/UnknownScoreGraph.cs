using System.Text.Json;
using Google.Protobuf;
using Onnx;

namespace BottleneckPipeline.Confidence;

/// <summary>
/// Writes a <see cref="RelativeMahalanobis"/> into an ONNX graph as two extra outputs computed from the
/// bottleneck tensor, so any runtime applies the same rule as the pipeline without code of its own:
/// <c>unknown_score</c> [N] float (higher = of no class) and <c>unknown</c> [N] bool (score above the
/// threshold). Only operators of opset 7 and up (Flatten, Relu, Sqrt, MatMul, Add, Sub, Mul, Div,
/// ReduceMin, Reshape, Greater), so it fits the embedded ResNet-18 (opset 8) and newer models alike.
/// The scorer's parameters go in as initializers (about 2 MB at d = 512); the threshold and method also
/// go in the model's metadata under <see cref="MetadataKey"/>.
/// </summary>
public static class UnknownScoreGraph
{
    public const string ScoreOutput = "unknown_score";
    public const string FlagOutput = "unknown";
    public const string MetadataKey = "unknown_score";
    private const string Prefix = "bp_unknown_";

    /// <summary>
    /// Appends the score to <paramref name="model"/>'s graph, reading <paramref name="bottleneckTensor"/>
    /// ([N, d] or [N, d, 1, 1]); adds the two outputs and the metadata entry (replacing an earlier one).
    /// </summary>
    public static void Append(ModelProto model, string bottleneckTensor, RelativeMahalanobis scorer)
    {
        if (double.IsNaN(scorer.Threshold)) throw new ArgumentException("the unknown score has no threshold: call WithThreshold first");
        var graph = model.Graph;
        var produced = graph.Node.SelectMany(n => n.Output).Concat(graph.Input.Select(i => i.Name)).ToHashSet(StringComparer.Ordinal);
        if (!produced.Contains(bottleneckTensor)) throw new ArgumentException($"the graph has no tensor named {bottleneckTensor}");
        foreach (var name in new[] { ScoreOutput, FlagOutput })
            if (produced.Contains(name) || graph.Output.Any(o => o.Name == name)) throw new ArgumentException($"the graph already has a tensor named {name}");
        var opset = model.OpsetImport.Where(o => o.Domain is "" or "ai.onnx").Select(o => o.Version).DefaultIfEmpty(1).Max();
        if (opset < 7) throw new ArgumentException($"opset {opset}: the unknown score needs opset 7 or later (broadcasting arithmetic)");

        int d = scorer.Dimension, k = scorer.ClassCount;
        string P(string s) => Prefix + s;
        graph.Initializer.Add(Float(P("ones"), Enumerable.Repeat(1f, d).ToArray(), d, 1));
        graph.Initializer.Add(Float(P("eps"), [RelativeMahalanobis.Epsilon], 1));
        graph.Initializer.Add(Float(P("minus_two"), [-2f], 1));
        graph.Initializer.Add(Float(P("class_whitening_t"), Transposed(scorer.ClassWhitening, d, d), d, d));
        graph.Initializer.Add(Float(P("class_centres_t"), Transposed(scorer.ClassCentres, k, d), d, k));
        graph.Initializer.Add(Float(P("class_centre_norms"), SquaredNorms(scorer.ClassCentres, k, d), k));
        graph.Initializer.Add(Float(P("background_whitening_t"), Transposed(scorer.BackgroundWhitening, d, d), d, d));
        graph.Initializer.Add(Float(P("background_centre"), scorer.BackgroundCentre, d));
        graph.Initializer.Add(Float(P("threshold"), [(float)scorer.Threshold], 1));
        graph.Initializer.Add(new TensorProto { Name = P("flat_shape"), DataType = (int)TensorProto.Types.DataType.Int64, Dims = { 1 }, Int64Data = { -1 } });

        var nodes = new List<NodeProto>
        {
            Node("Flatten", [bottleneckTensor], P("x"), Int("axis", 1)),
            // z = sqrt(relu(x)) / sqrt(sum relu(x) + eps)
            Node("Relu", [P("x")], P("relu")),
            Node("Sqrt", [P("relu")], P("root")),
            Node("MatMul", [P("relu"), P("ones")], P("mass")),
            Node("Add", [P("mass"), P("eps")], P("mass_eps")),
            Node("Sqrt", [P("mass_eps")], P("norm")),
            Node("Div", [P("root"), P("norm")], P("z")),
            // min_c |L z - L mu_c|^2 = |y|^2 - 2 y . m_c + |m_c|^2, least over c
            Node("MatMul", [P("z"), P("class_whitening_t")], P("y")),
            Node("Mul", [P("y"), P("y")], P("y_sq")),
            Node("MatMul", [P("y_sq"), P("ones")], P("y_norm")),
            Node("MatMul", [P("y"), P("class_centres_t")], P("y_dot_m")),
            Node("Mul", [P("y_dot_m"), P("minus_two")], P("cross")),
            Node("Add", [P("y_norm"), P("cross")], P("partial")),
            Node("Add", [P("partial"), P("class_centre_norms")], P("class_distances")),
        };
        if (opset >= 18)
        {
            graph.Initializer.Add(new TensorProto { Name = P("axis1"), DataType = (int)TensorProto.Types.DataType.Int64, Dims = { 1 }, Int64Data = { 1 } });
            nodes.Add(Node("ReduceMin", [P("class_distances"), P("axis1")], P("nearest"), Int("keepdims", 1)));
        }
        else
        {
            var axes = new AttributeProto { Name = "axes", Type = AttributeProto.Types.AttributeType.Ints };
            axes.Ints.Add(1);
            nodes.Add(Node("ReduceMin", [P("class_distances")], P("nearest"), axes, Int("keepdims", 1)));
        }
        nodes.AddRange(
        [
            // |L0 z - L0 mu_0|^2
            Node("MatMul", [P("z"), P("background_whitening_t")], P("y0_raw")),
            Node("Sub", [P("y0_raw"), P("background_centre")], P("y0")),
            Node("Mul", [P("y0"), P("y0")], P("y0_sq")),
            Node("MatMul", [P("y0_sq"), P("ones")], P("background_distance")),
            Node("Sub", [P("nearest"), P("background_distance")], P("score_column")),
            Node("Reshape", [P("score_column"), P("flat_shape")], ScoreOutput),
            Node("Greater", [ScoreOutput, P("threshold")], FlagOutput),
        ]);
        graph.Node.AddRange(nodes);
        graph.Output.Add(ValueInfo(ScoreOutput, TensorProto.Types.DataType.Float));
        graph.Output.Add(ValueInfo(FlagOutput, TensorProto.Types.DataType.Bool));

        foreach (var old in model.MetadataProps.Where(p => p.Key == MetadataKey).ToList()) model.MetadataProps.Remove(old);
        model.MetadataProps.Add(new StringStringEntryProto { Key = MetadataKey, Value = MetadataJson(scorer) });
    }

    /// <summary>What the metadata entry says: how to read the two outputs, and the rule's numbers.</summary>
    public static string MetadataJson(RelativeMahalanobis scorer) => JsonSerializer.Serialize(new Dictionary<string, object>
    {
        ["method"] = scorer.Method,
        ["score_output"] = ScoreOutput,
        ["flag_output"] = FlagOutput,
        ["rule"] = $"{FlagOutput} = {ScoreOutput} > threshold (higher score = less like any trained class)",
        ["threshold"] = scorer.Threshold,
        ["keep_share"] = scorer.KeepShare,
        ["shrinkage"] = scorer.Shrinkage,
        ["training_count"] = scorer.TrainingCount,
    });

    /// <summary>The rule the metadata entry carries, read back: (threshold, keep share).</summary>
    public static (double Threshold, double KeepShare) ReadMetadata(ModelProto model)
    {
        var entry = model.MetadataProps.FirstOrDefault(p => p.Key == MetadataKey) ?? throw new ArgumentException($"the model has no '{MetadataKey}' metadata");
        using var doc = JsonDocument.Parse(entry.Value);
        return (doc.RootElement.GetProperty("threshold").GetDouble(), doc.RootElement.GetProperty("keep_share").GetDouble());
    }

    private static float[] Transposed(float[] m, int rows, int cols)
    {
        var t = new float[m.Length];
        for (var r = 0; r < rows; r++)
            for (var c = 0; c < cols; c++)
                t[c * rows + r] = m[r * cols + c];
        return t;
    }

    private static float[] SquaredNorms(float[] m, int rows, int cols)
    {
        var n = new float[rows];
        for (var r = 0; r < rows; r++) n[r] = System.Numerics.Tensors.TensorPrimitives.Dot(m.AsSpan(r * cols, cols), m.AsSpan(r * cols, cols));
        return n;
    }

    private static TensorProto Float(string name, float[] values, params long[] dims)
    {
        var t = new TensorProto { Name = name, DataType = (int)TensorProto.Types.DataType.Float };
        t.Dims.AddRange(dims);
        t.RawData = ByteString.CopyFrom(System.Runtime.InteropServices.MemoryMarshal.AsBytes(values.AsSpan()));
        return t;
    }

    private static AttributeProto Int(string name, long value) => new() { Name = name, Type = AttributeProto.Types.AttributeType.Int, I = value };

    private static NodeProto Node(string op, string[] inputs, string output, params AttributeProto[] attributes)
    {
        var n = new NodeProto { OpType = op, Name = output + "_" + op.ToLowerInvariant() };
        n.Input.AddRange(inputs);
        n.Output.Add(output);
        n.Attribute.AddRange(attributes);
        return n;
    }

    private static ValueInfoProto ValueInfo(string name, TensorProto.Types.DataType type) =>
        new() { Name = name, Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)type } } };
}
