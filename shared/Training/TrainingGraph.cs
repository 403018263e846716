using Onnx;

namespace BottleneckPipeline.Training;

/// <summary>
/// The part of a forward model to train: everything between the cut tensor (the trainable part's
/// input, fed from the frozen prefix or its cache) and the output tensor (the features the head
/// reads), with the named initializers as trained weights. Every other initializer stays frozen.
/// </summary>
public sealed record TrainableRegion
{
    public required ModelProto Model { get; init; }
    public required string CutTensor { get; init; }
    /// <summary>The cut tensor's shape with the batch as -1, e.g. [-1, 256, 14, 14].</summary>
    public required long[] CutShape { get; init; }
    public required string OutputTensor { get; init; }
    public required IReadOnlySet<string> Trainable { get; init; }
}

/// <summary>A weight the training graph takes as an input and returns the gradient of.</summary>
public sealed record TrainableParameter(string Name, long[] Shape, string GradientName)
{
    public long ElementCount => Shape.Aggregate(1L, (p, d) => p * d);
}

/// <summary>
/// One ONNX model computing a training step's forward pass, loss and (when built with a backward
/// pass) the gradient of every trainable weight. The weights are graph inputs, so one session
/// serves every step while an optimizer updates them outside the graph.
/// </summary>
public sealed class TrainingGraph
{
    public required byte[] Model { get; init; }
    public required TensorProto.Types.DataType ElementType { get; init; }
    /// <summary>The cut tensor's name: the input that takes a batch of activations.</summary>
    public required string Input { get; init; }
    public required long[] InputShape { get; init; }
    /// <summary>The loss's data input: target distributions [N, K], or the upstream tensor of a projection.</summary>
    public required string Targets { get; init; }
    public required string Loss { get; init; }
    /// <summary>Softmax probabilities [N, K], when the loss has a head.</summary>
    public string? Probabilities { get; init; }
    /// <summary>The gradient of the cut tensor, when it was asked for.</summary>
    public string? InputGradient { get; init; }
    /// <summary>Trainable weights in input order: the region's initializers, then the head's.</summary>
    public required IReadOnlyList<TrainableParameter> Parameters { get; init; }
    /// <summary>Initial values of the region's trainable weights, read from the model.</summary>
    public required IReadOnlyDictionary<string, TensorProto> InitialValues { get; init; }
    public bool HasBackward { get; init; }
}
