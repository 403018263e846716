using Onnx;

namespace BottleneckPipeline.Training;

/// <summary>
/// How one ONNX op takes part in training: which of its inputs are weights, why a node cannot be
/// differentiated (checked while the graph is built), how it is written into the training graph,
/// and the standard ONNX nodes that turn its outputs' gradients into its inputs' gradients.
/// </summary>
internal abstract class GradientRule
{
    /// <summary>Input slots that hold weights a user may train (Conv's weight and bias, for example).</summary>
    public virtual IReadOnlyList<int> WeightInputs => [];

    /// <summary>Why this node cannot be differentiated here, or null when it can.</summary>
    public virtual string? Unsupported(NodeProto node, GradientContext ctx) => null;

    /// <summary>Writes the forward node into the training graph; rules rewrite nodes from old opsets.</summary>
    public virtual void Forward(NodeProto node, GradientContext ctx) => ctx.Emit.Add(node.Clone());

    /// <summary>Emits the gradients of the node's inputs that need one, from its outputs' gradients.</summary>
    public abstract void Backward(NodeProto node, GradientContext ctx);
}

/// <summary>What a gradient rule sees while the training graph is built.</summary>
internal sealed class GradientContext(GraphEmitter emit, ForwardGraph forward, IReadOnlyDictionary<string, long[]> shapes, Func<string, bool> needsGradient,
    TrainingGraphOptions options, bool backward)
{
    private readonly Dictionary<string, List<string>> _contributions = new(StringComparer.Ordinal);
    private readonly Dictionary<string, string> _shapeOf = new(StringComparer.Ordinal);

    public GraphEmitter Emit { get; } = emit;
    public ForwardGraph Forward { get; } = forward;
    public TrainingGraphOptions Options { get; } = options;
    /// <summary>Tensors a rule's forward wrote for its own backward, by a key the rule makes (e.g. a node's output and a tag).</summary>
    public Dictionary<string, string> Saved { get; } = new(StringComparer.Ordinal);
    /// <summary>Whether the graph gets a backward pass (a forward-only graph computes nothing only the backward needs).</summary>
    public bool WithBackward { get; } = backward;

    /// <summary>Whether a gradient must flow into this tensor: it depends on the cut or a trained weight, and is wanted.</summary>
    public bool NeedsGradient(string tensor) => tensor.Length > 0 && needsGradient(tensor);

    /// <summary>Static shape (batch -1); the graph was checked to have one for every tensor a rule asks about.</summary>
    public long[] Shape(string tensor) => shapes.TryGetValue(tensor, out var s) ? s
        : throw new InvalidOperationException($"no static shape for tensor '{tensor}'");

    public bool HasShape(string tensor) => shapes.ContainsKey(tensor);

    /// <summary>A runtime Shape of a forward tensor, emitted once.</summary>
    public string RuntimeShape(string tensor)
    {
        if (!_shapeOf.TryGetValue(tensor, out var s)) _shapeOf[tensor] = s = Emit.Shape(tensor, "shape");
        return s;
    }

    /// <summary>Adds one contribution to a tensor's gradient; contributions are summed when read.</summary>
    public void AddGradient(string tensor, string gradient)
    {
        if (!_contributions.TryGetValue(tensor, out var list)) _contributions[tensor] = list = [];
        list.Add(gradient);
    }

    /// <summary>The full gradient of a tensor (its contributions summed once), or null when none flows into it.</summary>
    public string? GradientOf(string tensor)
    {
        if (!_contributions.TryGetValue(tensor, out var list) || list.Count == 0) return null;
        if (list.Count > 1)
        {
            var sum = Emit.Op("Sum", "grad_sum", list);
            list.Clear();
            list.Add(sum);
        }
        return list[0];
    }

    /// <summary>Sums a gradient over the axes its input was broadcast along, back to the input's shape.</summary>
    public string Unbroadcast(string gradient, long[] outputShape, long[] inputShape, string hint)
    {
        var lead = outputShape.Length - inputShape.Length;
        var g = gradient;
        if (lead > 0) g = Emit.ReduceSum(g, hint, [.. Enumerable.Range(0, lead).Select(i => (long)i)], keepDims: false);
        var axes = Enumerable.Range(0, inputShape.Length).Where(i => inputShape[i] == 1 && outputShape[i + lead] != 1).Select(i => (long)i).ToArray();
        return axes.Length > 0 ? Emit.ReduceSum(g, hint, axes, keepDims: true) : g;
    }
}
