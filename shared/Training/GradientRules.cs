namespace BottleneckPipeline.Training;

/// <summary>The ops the engine can differentiate, each with its rule.</summary>
internal static class GradientRules
{
    private static readonly Dictionary<string, GradientRule> ByOp = new(StringComparer.Ordinal)
    {
        ["Conv"] = new ConvGradient(),
        ["BatchNormalization"] = new BatchNormGradient(),
        ["Relu"] = new ReluGradient(),
        ["Add"] = new ArithmeticGradient(),
        ["Sub"] = new ArithmeticGradient(),
        ["Mul"] = new ArithmeticGradient(),
        ["MaxPool"] = new MaxPoolGradient(),
        ["AveragePool"] = new AveragePoolGradient(),
        ["GlobalAveragePool"] = new GlobalAveragePoolGradient(),
        ["Concat"] = new ConcatGradient(),
        ["Pad"] = new PadGradient(),
        ["Flatten"] = new ReshapeGradient(),
        ["Reshape"] = new ReshapeGradient(),
        ["Squeeze"] = new ReshapeGradient(),
        ["Unsqueeze"] = new ReshapeGradient(),
        ["Identity"] = new PassThroughGradient(),
        ["Dropout"] = new PassThroughGradient(),
        ["Gemm"] = new GemmGradient(),
        ["MatMul"] = new MatMulGradient(),
    };

    public static IReadOnlyCollection<string> SupportedOps => ByOp.Keys;

    public static GradientRule? For(string opType, string domain) => domain is "" or "ai.onnx" ? ByOp.GetValueOrDefault(opType) : null;
}
