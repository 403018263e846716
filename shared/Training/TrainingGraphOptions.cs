namespace BottleneckPipeline.Training;

/// <summary>How the weight gradient of a convolution is written (both are exact; speed differs by shape).</summary>
public enum ConvWeightGradientForm
{
    /// <summary>Gemm over strided windows when the conv has enough input channels, else the transposed conv (measured).</summary>
    Auto,
    /// <summary>The input's k x k strided windows (Slice) stacked into one matrix, times dY in one Gemm.</summary>
    GemmOverWindows,
    /// <summary>A Conv over transposed tensors (input channels as the batch, dY as the kernel, stride as dilation).</summary>
    TransposedConv,
}

/// <summary>How the input gradient of a convolution is written (both are exact; speed differs).</summary>
public enum ConvInputGradientForm
{
    /// <summary>A plain Conv of dY with the flipped, transposed kernel where the conv has stride 1 (ORT runs Conv
    /// through its blocked, batched kernels: measured faster than its ConvTranspose); ConvTranspose otherwise.</summary>
    Auto,
    /// <summary>ConvTranspose of dY with the same weights, for every stride.</summary>
    ConvTranspose,
}

/// <summary>How max pooling routes its gradient back to the winning inputs (both give it to the first maximum).</summary>
public enum MaxPoolGradientForm
{
    /// <summary>MaxPool's Indices output and one ScatterElements with add (the reference note's form; the faster one measured on the CPU).</summary>
    IndicesScatter,
    /// <summary>Windows unfolded by a one-hot Conv, the winner by ArgMax, one-hot routed dY summed back by Col2Im.</summary>
    WindowMasks,
}

/// <summary>Choices that change how the training graph is written, never what it computes.</summary>
public sealed record TrainingGraphOptions
{
    public ConvWeightGradientForm ConvWeightGradient { get; init; } = ConvWeightGradientForm.Auto;
    public ConvInputGradientForm ConvInputGradient { get; init; } = ConvInputGradientForm.Auto;
    public MaxPoolGradientForm MaxPoolGradient { get; init; } = MaxPoolGradientForm.IndicesScatter;

    /// <summary>Below this many input channels Auto picks the transposed conv: the window matrix would
    /// be long and thin (ResNet's 7x7 stem on 3 channels measured ~2x slower as a Gemm).</summary>
    public const int GemmOverWindowsMinChannels = 16;
}
