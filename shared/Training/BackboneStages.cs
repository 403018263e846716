using Onnx;

namespace BottleneckPipeline.Training;

/// <summary>How much of the backbone FineTune trains: <c>trainable</c> in pipeline.yaml.</summary>
public enum TrainableDepth { LastStage, LastTwoStages, All }

/// <summary>A tensor where one stage of a backbone ends and the next begins, with its shape (batch -1).</summary>
internal sealed record StageBoundary(string Tensor, long[] Shape);

/// <summary>
/// The stages of a CNN backbone, found from its graph. A boundary is a tensor every path from the
/// image to the features passes through (the only live activation at that point of the graph) after
/// which the next such tensor has at most half its spatial size, not counting the final pooling
/// to 1x1. The image input is the first boundary, so "all" cuts there.
/// </summary>
public sealed class BackboneStages
{
    internal ForwardGraph Graph { get; }
    public string ImageInput { get; }
    public string Features { get; }
    /// <summary>First to last; the last one starts the last stage.</summary>
    internal IReadOnlyList<StageBoundary> Boundaries { get; }
    private readonly Dictionary<string, long[]> _shapes;
    private readonly List<NodeProto> _nodes;

    private BackboneStages(ForwardGraph graph, string imageInput, string features, IReadOnlyList<StageBoundary> boundaries, Dictionary<string, long[]> shapes,
        List<NodeProto> nodes)
    {
        Graph = graph;
        ImageInput = imageInput;
        Features = features;
        Boundaries = boundaries;
        _shapes = shapes;
        _nodes = nodes;
    }

    /// <param name="model">The backbone.</param>
    /// <param name="imageInput">Its image input.</param>
    /// <param name="imageShape">The image input's shape, batch first (any batch value is taken as the batch).</param>
    /// <param name="features">The tensor the head reads (the bottleneck).</param>
    public static BackboneStages Find(ModelProto model, string imageInput, long[] imageShape, string features)
    {
        var graph = new ForwardGraph(model);
        var shapes = graph.InferShapes(new Dictionary<string, long[]> { [imageInput] = [-1, .. imageShape[1..]] });
        if (!shapes.ContainsKey(features))
            throw ShapeUnknown(graph, shapes, imageInput, features);
        var nodes = NodesBetween(graph, imageInput, features);

        // Walk the graph in order, counting the uses left of every activation; where a single one is live, the graph can be cut.
        var usesLeft = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var n in nodes)
            foreach (var i in n.Input.Where(i => i.Length > 0).Distinct())
                usesLeft[i] = usesLeft.GetValueOrDefault(i) + 1;
        var activations = new HashSet<string>(StringComparer.Ordinal) { imageInput };
        var live = new HashSet<string>(StringComparer.Ordinal) { imageInput };
        var cuts = new List<string> { imageInput };
        foreach (var n in nodes)
        {
            var isActivation = n.Input.Any(activations.Contains);
            foreach (var i in n.Input.Where(i => i.Length > 0).Distinct())
                if (--usesLeft[i] == 0) live.Remove(i);
            if (!isActivation) continue;
            foreach (var o in n.Output.Where(o => o.Length > 0))
            {
                activations.Add(o);
                if (usesLeft.GetValueOrDefault(o) > 0 || o == features) live.Add(o);
            }
            if (live.Count == 1 && live.First() is var only && n.Output.Contains(only)) cuts.Add(only);
        }

        var spatial = cuts.Where(c => shapes.TryGetValue(c, out var s) && s.Length == 4).ToList();
        var boundaries = new List<StageBoundary>();
        for (var i = 0; i + 1 < spatial.Count; i++)
        {
            var (here, next) = (shapes[spatial[i]][2], shapes[spatial[i + 1]][2]);
            if (next > 1 && 2 * next <= here + 1) boundaries.Add(new StageBoundary(spatial[i], shapes[spatial[i]]));
        }
        if (boundaries.Count == 0 || boundaries[0].Tensor != imageInput)
            boundaries.Insert(0, new StageBoundary(imageInput, shapes[imageInput]));
        return new BackboneStages(graph, imageInput, features, boundaries, shapes, nodes);
    }

    /// <summary>
    /// The features' shape could not be worked out from the image: the node where the inference
    /// stopped, named with its op. Stages are found over the whole graph, so no 'trainable' depth
    /// avoids it.
    /// </summary>
    private static Exception ShapeUnknown(ForwardGraph graph, Dictionary<string, long[]> shapes, string imageInput, string features)
    {
        const string advice = "FineTune finds the backbone's stages from the shapes of the whole graph, so no 'fine_tune.trainable' setting " +
                              "avoids this node: leave fine_tune.enabled off for this backbone (TrainHead's head is used), " +
                              "or fine-tune a backbone of ops the engine knows (ResNet-18, Inception-v3)";
        if (ShapeInference.Blocker(graph, shapes, features) is not { } node)
            return new InvalidDataException($"cannot work out the shape of '{features}' from the image input '{imageInput}': " +
                                            "no node of the graph leads from one to the other");
        var name = node.Name.Length > 0 ? node.Name : node.Output[0];
        var op = (node.Domain is "" or "ai.onnx" ? "" : node.Domain + ".") + node.OpType;
        var why = ShapeInference.Knows(node)
            ? "the engine's shape inference cannot work out its output shape from its inputs' shapes (it depends on values known only at run time), " +
              $"so the shape of the features '{features}' is unknown"
            : $"the backbone uses an op the engine's shape inference does not know ({op}), " +
              $"so the shape of the features '{features}' cannot be worked out from the image input '{imageInput}'";
        return new UnsupportedOperatorException(node.OpType, name, why, advice);
    }

    /// <summary>The boundary that starts the trainable part for a depth.</summary>
    internal StageBoundary Cut(TrainableDepth depth) => depth switch
    {
        TrainableDepth.All => Boundaries[0],
        TrainableDepth.LastTwoStages => Boundaries[Math.Max(0, Boundaries.Count - 2)],
        _ => Boundaries[^1],
    };

    /// <summary>
    /// The region to train for a depth: from its boundary to the features, training every weight its
    /// nodes hold in a weight slot (Conv and Gemm weights and biases, BatchNorm scale and bias; never
    /// BatchNorm statistics). A weight the frozen prefix also reads stays frozen, so cached activations
    /// of the prefix stay valid.
    /// </summary>
    public TrainableRegion Region(TrainableDepth depth)
    {
        var cut = Cut(depth);
        var region = NodesBetween(Graph, cut.Tensor, Features);
        var inRegion = new HashSet<NodeProto>(region, ReferenceEqualityComparer.Instance);
        var frozenReads = new HashSet<string>(StringComparer.Ordinal);
        foreach (var n in _nodes.Where(n => !inRegion.Contains(n) && n.OpType != "Identity"))
            foreach (var i in n.Input)
                if (Graph.InitializerBehind(i) is { } init) frozenReads.Add(init);
        var trainable = new HashSet<string>(StringComparer.Ordinal);
        foreach (var n in region)
        {
            if (GradientRules.For(n.OpType, n.Domain) is not { } rule) continue;
            foreach (var slot in rule.WeightInputs.Where(s => s < n.Input.Count && n.Input[s].Length > 0))
                if (Graph.InitializerBehind(n.Input[slot]) is { } init && !frozenReads.Contains(init)
                    && Graph.Initializer(init)!.DataType is (int)TensorProto.Types.DataType.Float or (int)TensorProto.Types.DataType.Double)
                    trainable.Add(init);
        }
        return new TrainableRegion { Model = Graph.Model, CutTensor = cut.Tensor, CutShape = cut.Shape, OutputTensor = Features, Trainable = trainable };
    }

    /// <summary>Static shape of a tensor of the backbone (batch -1), if known.</summary>
    public long[]? Shape(string tensor) => _shapes.GetValueOrDefault(tensor);

    /// <summary>The nodes computing <paramref name="to"/> from <paramref name="from"/> and constants, in graph order.</summary>
    private static List<NodeProto> NodesBetween(ForwardGraph graph, string from, string to)
    {
        var included = new HashSet<NodeProto>(ReferenceEqualityComparer.Instance);
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var pending = new Stack<string>([to]);
        while (pending.Count > 0)
        {
            var t = pending.Pop();
            if (t.Length == 0 || t == from || graph.IsInitializer(t) || !seen.Add(t)) continue;
            if (graph.Producer(t) is not { } node) continue;
            if (included.Add(node)) foreach (var i in node.Input) pending.Push(i);
        }
        return [.. graph.Graph.Node.Where(included.Contains)];
    }
}
