namespace BottleneckPipeline.Training;

/// <summary>How the weight gradient of a convolution is written (both are exact; speed differs by shape).</summary>
internal enum ConvWeightGradientForm
{
    /// <summary>Gemm over strided windows when the conv has enough input channels, else the transposed conv (measured).</summary>
    Auto,
    /// <summary>The input's k x k strided windows (one Gather) stacked into one matrix, times dY in one Gemm.</summary>
    GemmOverWindows,
    /// <summary>A Conv over transposed tensors (input channels as the batch, dY as the kernel, stride as dilation).</summary>
    TransposedConv,
}

/// <summary>How the input gradient of a convolution is written (both are exact; speed differs).</summary>
internal enum ConvInputGradientForm
{
    /// <summary>A plain Conv of dY with the flipped, transposed kernel where the conv has stride 1 (ORT runs Conv
    /// through its blocked, batched kernels: measured faster than its ConvTranspose); ConvTranspose otherwise.</summary>
    Auto,
    /// <summary>ConvTranspose of dY with the same weights, for every stride.</summary>
    ConvTranspose,
}

/// <summary>How a convolution whose weights train is computed in the training graph (both are exact; speed and memory differ).</summary>
internal enum ConvComputeForm
{
    /// <summary>Gemm where the conv's window matrix stays under <see cref="TrainingGraphOptions.GemmMaxWindowValuesPerImage"/> values per image,
    /// Conv otherwise.</summary>
    Auto,
    /// <summary>The ONNX Conv forward; dX and dW by <see cref="ConvInputGradientForm"/> and <see cref="ConvWeightGradientForm"/>.</summary>
    Conv,
    /// <summary>The input's windows stacked once into a [C*kh*kw, Ho*Wo*N] matrix (rows in W's own (c, i, j) order), shared
    /// by the forward (one Gemm with W as [O, C*kh*kw]) and dW (one Gemm with dY, no transpose of the result);
    /// dX at stride 1 is the same form run on dY (W with its channels swapped, dY's windows in reverse offset order, so no
    /// kernel flip), ConvTranspose at other strides. ORT runs a Gemm faster than a Conv whose weights are graph inputs (it
    /// cannot pre-pack them).</summary>
    Gemm,
}

/// <summary>How max pooling routes its gradient back to the winning inputs (both give it to the first maximum).</summary>
internal enum MaxPoolGradientForm
{
    /// <summary>MaxPool's Indices output and one ScatterElements with add: the faster form on ONNX Runtime's CPU.</summary>
    IndicesScatter,
    /// <summary>Windows unfolded by a one-hot Conv, the winner by ArgMax, one-hot routed dY summed back by Col2Im: for a
    /// runtime whose MaxPool has no Indices output or whose ScatterElements has no add reduction (opset 16), which the
    /// faster form needs.</summary>
    WindowMasks,
}

/// <summary>Choices that change how the training graph is written, never what it computes.</summary>
public sealed record TrainingGraphOptions
{
    internal ConvWeightGradientForm ConvWeightGradient { get; init; } = ConvWeightGradientForm.Auto;
    internal ConvInputGradientForm ConvInputGradient { get; init; } = ConvInputGradientForm.Auto;
    internal MaxPoolGradientForm MaxPoolGradient { get; init; } = MaxPoolGradientForm.IndicesScatter;
    internal ConvComputeForm ConvCompute { get; init; } = ConvComputeForm.Auto;

    /// <summary>Below this many input channels Auto picks the transposed conv: the window matrix would
    /// be long and thin, as for ResNet's 7x7 stem on 3 channels, where a Gemm is the slower form (bench: fine-tune-engine).</summary>
    public const int GemmOverWindowsMinChannels = 16;

    /// <summary>Above this many window-matrix values per image Auto keeps the Conv form: the matrix lives from the
    /// forward to the backward pass, and ResNet's early layers' (64 channels x 9 at 56x56: 1.8 M values, 230 MB at
    /// batch 32) would hold gigabytes. Layer4's 3x3 convs hold 0.23 M per image.</summary>
    public const long GemmMaxWindowValuesPerImage = 1L << 19;
}
