using Onnx;

namespace BottleneckPipeline.Training;

/// <summary>
/// Builds the training-step graph of a <see cref="TrainableRegion"/>: the region's forward nodes,
/// the loss, and reverse-mode gradients written as standard ONNX ops (opset 18), so the same graph
/// runs under any ONNX Runtime provider. Every node that needs a gradient is checked before anything
/// is written: an op without a rule is an <see cref="UnsupportedOperatorException"/> naming it.
/// </summary>
public static class TrainingGraphBuilder
{
    public const int Opset = 18;

    /// <summary>The step graph: the region's forward nodes, the loss, then (with <paramref name="backward"/>) every
    /// active node's gradient rule in reverse order, one rule per op.</summary>
    /// <param name="inputGradient">also output the gradient of the cut tensor (a lower region trains from it).</param>
    public static TrainingGraph Build(TrainableRegion region, TrainingLoss loss, TrainingGraphOptions? options = null, bool backward = true,
        bool inputGradient = false)
    {
        options ??= new TrainingGraphOptions();
        var forward = new ForwardGraph(region.Model);
        var (nodes, usedInitializers) = RegionNodes(forward, region);
        var shapes = forward.InferShapes(new Dictionary<string, long[]> { [region.CutTensor] = region.CutShape });
        var elementType = forward.ElementType(region.CutTensor) ?? OnnxTensorData.Float;
        CheckTrainable(region, forward, usedInitializers, elementType);
        var active = ActiveTensors(region, nodes);
        CheckReservedNames(nodes);

        var graph = new GraphProto { Name = "bottleneck_pipeline_training_step" };
        var emit = new GraphEmitter(graph, elementType);
        var ctx = new GradientContext(emit, forward, shapes, t => active.Contains(t) && (t != region.CutTensor || inputGradient), options, backward);
        CheckDifferentiable(nodes, active, ctx, shapes);

        var inputs = new List<ValueInfoProto> { OnnxTensorData.ValueInfo(region.CutTensor, elementType, region.CutShape) };
        var trainable = nodes.SelectMany(n => n.Input).Where(region.Trainable.Contains).Distinct().ToList();
        foreach (var name in trainable) inputs.Add(OnnxTensorData.ValueInfo(name, elementType, Dims(forward, name)));
        foreach (var name in usedInitializers.Where(n => !region.Trainable.Contains(n)))
            graph.Initializer.Add(forward.Initializer(name));

        foreach (var node in nodes)
        {
            if (GradientRules.For(node.OpType, node.Domain) is { } rule) rule.Forward(node, ctx);
            else emit.Add(node.Clone());
        }
        var lossNodes = loss.Emit(ctx, region.OutputTensor, backward, inputs);

        List<TrainableParameter> parameters;
        string? cutGradient = null;
        if (backward)
        {
            EmitBackward(nodes, active, ctx);
            parameters = [.. trainable.Select(name => new TrainableParameter(name, Dims(forward, name),
                ctx.GradientOf(name) ?? throw new InvalidOperationException($"no gradient reached trainable weight '{name}'")))];
            if (inputGradient)
                cutGradient = ctx.GradientOf(region.CutTensor) ?? throw new InvalidOperationException($"no gradient reached '{region.CutTensor}'");
        }
        else parameters = [.. trainable.Select(name => new TrainableParameter(name, Dims(forward, name), ""))];
        parameters.AddRange(lossNodes.Parameters);

        graph.Input.AddRange(inputs);
        var outputs = new List<string> { lossNodes.Loss };
        if (lossNodes.Probabilities is not null) outputs.Add(lossNodes.Probabilities);
        if (backward)
        {
            for (var i = 0; i < parameters.Count; i++)
                parameters[i] = parameters[i] with { GradientName = DistinctOutput(emit, parameters[i].GradientName, outputs, inputs) };
            if (cutGradient is not null) cutGradient = DistinctOutput(emit, cutGradient, outputs, inputs);
        }
        foreach (var o in outputs) graph.Output.Add(OnnxTensorData.ValueInfo(o, elementType, null));

        var model = new ModelProto { IrVersion = 8, ProducerName = "BottleneckPipeline.Training", Graph = graph };
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = Opset });
        return new TrainingGraph
        {
            Model = Google.Protobuf.MessageExtensions.ToByteArray(model),
            ElementType = elementType,
            Input = region.CutTensor,
            InputShape = region.CutShape,
            Targets = lossNodes.TargetsInput,
            Loss = lossNodes.Loss,
            Probabilities = lossNodes.Probabilities,
            InputGradient = cutGradient,
            Parameters = parameters,
            InitialValues = trainable.ToDictionary(n => n, n => forward.Initializer(n)!, StringComparer.Ordinal),
            HasBackward = backward,
        };
    }

    private static long[] Dims(ForwardGraph forward, string initializer) => [.. forward.Initializer(initializer)!.Dims];

    /// <summary>Every trainable weight is an initializer of the graph's element type that the region reads.</summary>
    private static void CheckTrainable(TrainableRegion region, ForwardGraph forward, HashSet<string> usedInitializers, TensorProto.Types.DataType elementType)
    {
        foreach (var name in region.Trainable)
        {
            if (forward.Initializer(name) is not { } init)
                throw new ArgumentException($"trainable weight '{name}' is not an initializer of the model");
            if (init.DataType != (int)elementType)
                throw new ArgumentException($"trainable weight '{name}' is {(TensorProto.Types.DataType)init.DataType}, the graph computes in {elementType}");
            if (!usedInitializers.Contains(name))
                throw new ArgumentException($"trainable weight '{name}' is not used between '{region.CutTensor}' and '{region.OutputTensor}'");
        }
    }

    /// <summary>The tensors that depend on the cut or on a trained weight: only they carry gradients.</summary>
    private static HashSet<string> ActiveTensors(TrainableRegion region, List<NodeProto> nodes)
    {
        var active = new HashSet<string>(region.Trainable, StringComparer.Ordinal) { region.CutTensor };
        foreach (var node in nodes)
            if (node.Input.Any(active.Contains))
                foreach (var o in node.Output) active.Add(o);
        if (!active.Contains(region.OutputTensor))
            throw new ArgumentException($"'{region.OutputTensor}' does not depend on '{region.CutTensor}' or any trainable weight");
        return active;
    }

    /// <summary>The model's own tensor names must not collide with the names the loss and the emitter add.</summary>
    private static void CheckReservedNames(List<NodeProto> nodes)
    {
        var reserved = new[] { SoftmaxCrossEntropy.HeadWeight, SoftmaxCrossEntropy.HeadBias, SoftmaxCrossEntropy.Targets, ProjectionLoss.Upstream };
        foreach (var node in nodes)
            foreach (var t in node.Input.Concat(node.Output))
                if (reserved.Contains(t) || t.StartsWith(GraphEmitter.Prefix, StringComparison.Ordinal))
                    throw new ArgumentException($"the model's tensor '{t}' clashes with a name the training graph reserves");
    }

    /// <summary>The reverse loop: each active node whose output has a gradient applies its op's rule.</summary>
    private static void EmitBackward(List<NodeProto> nodes, HashSet<string> active, GradientContext ctx)
    {
        for (var i = nodes.Count - 1; i >= 0; i--)
        {
            var node = nodes[i];
            if (!node.Output.Any(active.Contains) || !node.Output.Any(o => ctx.GradientOf(o) is not null)) continue;
            GradientRules.For(node.OpType, node.Domain)!.Backward(node, ctx);
        }
    }

    /// <summary>A graph output must be a node output and appear once: gradients that are a graph input
    /// (a projection's upstream) or already an output (shared by two weights) get their own Identity.</summary>
    private static string DistinctOutput(GraphEmitter emit, string tensor, List<string> outputs, List<ValueInfoProto> inputs)
    {
        if (outputs.Contains(tensor) || inputs.Any(i => i.Name == tensor) || emit.Graph.Initializer.Any(t => t.Name == tensor))
            tensor = emit.Op("Identity", "grad_out", [tensor]);
        outputs.Add(tensor);
        return tensor;
    }

    /// <summary>The nodes the output needs from the cut and constants, in graph order, and the initializers they read.</summary>
    private static (List<NodeProto> Nodes, HashSet<string> Initializers) RegionNodes(ForwardGraph forward, TrainableRegion region)
    {
        if (forward.Producer(region.CutTensor) is null && !forward.DataInputs.Any(i => i.Name == region.CutTensor))
            throw new ArgumentException($"the model has no tensor '{region.CutTensor}' to cut at");
        if (forward.Producer(region.OutputTensor) is null)
            throw new ArgumentException($"the model has no node producing '{region.OutputTensor}'");
        var included = new HashSet<NodeProto>(ReferenceEqualityComparer.Instance);
        var initializers = new HashSet<string>(StringComparer.Ordinal);
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var reachesCut = false;
        var pending = new Stack<string>([region.OutputTensor]);
        while (pending.Count > 0)
        {
            var t = pending.Pop();
            if (t.Length == 0 || !seen.Add(t)) continue;
            if (t == region.CutTensor) { reachesCut = true; continue; }
            if (forward.IsInitializer(t)) { initializers.Add(t); continue; }
            if (forward.Producer(t) is not { } node)
                throw new ArgumentException($"'{region.OutputTensor}' depends on graph input '{t}' other than through the cut '{region.CutTensor}'");
            if (!included.Add(node)) continue;
            foreach (var i in node.Input) pending.Push(i);
        }
        if (!reachesCut) throw new ArgumentException($"'{region.OutputTensor}' does not depend on the cut '{region.CutTensor}'");
        return ([.. forward.Graph.Node.Where(included.Contains)], initializers);
    }

    private static void CheckDifferentiable(List<NodeProto> nodes, HashSet<string> active, GradientContext ctx, Dictionary<string, long[]> shapes)
    {
        foreach (var node in nodes.Where(n => n.Input.Any(active.Contains)))
        {
            var name = node.Name.Length > 0 ? node.Name : node.Output[0];
            var rule = GradientRules.For(node.OpType, node.Domain)
                ?? throw new UnsupportedOperatorException(node.OpType, name,
                    $"the training engine has no gradient rule for {(node.Domain is "" or "ai.onnx" ? "" : node.Domain + ".")}{node.OpType} " +
                    $"(it has rules for {string.Join(", ", GradientRules.SupportedOps.Order(StringComparer.Ordinal))})");
            if (node.Input.Where(i => i.Length > 0).Concat(node.Output.Take(1)).FirstOrDefault(t => !shapes.ContainsKey(t)) is { } unknown)
                throw new UnsupportedOperatorException(node.OpType, name, $"the shape of its tensor '{unknown}' cannot be worked out statically");
            if (rule.Unsupported(node, ctx) is { } reason)
                throw new UnsupportedOperatorException(node.OpType, name, reason);
        }
    }
}
