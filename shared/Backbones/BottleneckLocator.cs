using BottleneckPipeline.Runtime;
using Onnx;

namespace BottleneckPipeline.Backbones;

/// <summary>Where the bottleneck is in a graph, how many values it holds per image, and why it was chosen.</summary>
/// <param name="Reason">For a person (Extract inspect): which rule picked the tensor.</param>
internal sealed record BottleneckChoice(string Tensor, int Dimension, bool IsGraphOutput, string Reason);

/// <summary>
/// Finds the bottleneck: the input of the final classifier (a Gemm or MatMul with a constant weight
/// that feeds a graph output, possibly through Softmax, Add, Identity and the like), else the graph
/// output itself when the model has no head (ResNet-18's pooled 512 features).
/// </summary>
internal static class BottleneckLocator
{
    // Ops that may sit between the classifier and the graph output without changing what it means.
    private static readonly HashSet<string> HeadTail = ["Softmax", "LogSoftmax", "Identity", "Add", "Dropout", "Flatten", "Reshape", "Squeeze", "Sigmoid"];

    public static BottleneckChoice Locate(OnnxGraphInfo g, string? requested, string modelPath)
    {
        if (requested is not null) return Requested(g, requested, modelPath);
        foreach (var output in g.Outputs)
        {
            var node = g.Producer(output.Name);
            for (var hops = 0; node is not null && hops < 6; hops++)
            {
                if (node.OpType is "Gemm" or "MatMul" && ClassifierInputDim(g, node) is int dim)
                    return new BottleneckChoice(node.Input[0], dim, g.IsGraphOutput(node.Input[0]),
                        $"the input of the final {Named(node)} (the classifier, {dim} -> {ClassifierOutputDim(g, node)}), which feeds output '{output.Name}'");
                if (!HeadTail.Contains(node.OpType)) break;
                node = g.Producer(node.Input[0]);
            }
        }
        var first = g.Outputs.FirstOrDefault()
            ?? throw new InputException($"backbone model {modelPath} has no outputs. {g.Describe()}");
        var d = PerImage(g.Shape(first.Name));
        if (d is null)
            throw new InputException($"backbone model {modelPath}: cannot tell the size of output '{first.Name}' " +
                                     $"{OnnxGraphInfo.ShowShape(g.Shape(first.Name))}. " +
                                     $"Set 'backbone.bottleneck' to a tensor with a known shape. {g.Describe()}");
        return new BottleneckChoice(first.Name, d.Value, true, $"the graph output: no Gemm/MatMul classifier feeds '{first.Name}'");
    }

    private static BottleneckChoice Requested(OnnxGraphInfo g, string name, string modelPath)
    {
        if (!g.HasTensor(name))
            throw new InputException($"'backbone.bottleneck' = '{name}' is not a tensor of {modelPath}. The model has {g.Describe()}. " +
                                     "Set 'backbone.bottleneck' to one of these, or remove the key to find it automatically.");
        var dim = PerImage(g.Shape(name));
        if (dim is null)
        {
            // The input of a classifier has the size of its weight's input side, even without a recorded shape.
            var consumer = g.Graph.Node.FirstOrDefault(n => n.OpType is "Gemm" or "MatMul" && n.Input.Count > 1 && n.Input[0] == name);
            dim = consumer is null ? null : ClassifierInputDim(g, consumer);
        }
        // 0: not knowable from the graph alone; the session learns it from the first run.
        return new BottleneckChoice(name, dim ?? 0, g.IsGraphOutput(name), "named by 'backbone.bottleneck'");
    }

    /// <summary>The feature count a Gemm/MatMul consumes, read from its constant weight's shape.</summary>
    private static int? ClassifierInputDim(OnnxGraphInfo g, NodeProto node)
    {
        if (node.Input.Count < 2 || g.Initializer(node.Input[1]) is not { } w || w.Dims.Count != 2) return null;
        if (node.OpType == "MatMul") return (int)w.Dims[0];
        var transB = node.Attribute.FirstOrDefault(a => a.Name == "transB")?.I ?? 0;
        return (int)(transB != 0 ? w.Dims[1] : w.Dims[0]);
    }

    private static string Named(NodeProto node) => node.Name.Length > 0 ? $"{node.OpType} '{node.Name}'" : node.OpType;

    /// <summary>The class count a classifier Gemm/MatMul produces, or "?" when its weight does not say.</summary>
    private static string ClassifierOutputDim(OnnxGraphInfo g, NodeProto node)
    {
        var w = g.Initializer(node.Input[1])!;
        var transB = node.OpType == "Gemm" && (node.Attribute.FirstOrDefault(a => a.Name == "transB")?.I ?? 0) != 0;
        var d = transB ? w.Dims[0] : w.Dims[1];
        return d > 0 ? d.ToString(System.Globalization.CultureInfo.InvariantCulture) : "?";
    }

    /// <summary>Values per image: the product of every dim after the batch dim, when all are known.</summary>
    private static int? PerImage(long[]? dims)
    {
        if (dims is null || dims.Length < 2) return null;
        long p = 1;
        foreach (var d in dims.Skip(1))
        {
            if (d <= 0) return null;
            p *= d;
        }
        return (int)p;
    }
}
