using Onnx;

namespace BottleneckPipeline.Training;

/// <summary>What the training graph optimizes, written on top of the trainable part's output.</summary>
public abstract class TrainingLoss
{
    /// <summary>Adds the loss (and, when <paramref name="backward"/>, the gradient it sends into the features).</summary>
    internal abstract LossNodes Emit(GradientContext ctx, string features, bool backward, List<ValueInfoProto> inputs);
}

internal sealed record LossNodes(string Loss, string? Probabilities, string TargetsInput, IReadOnlyList<TrainableParameter> Parameters);

/// <summary>
/// A softmax head on the features (flattened to [N, D]) and the mean cross-entropy against target
/// distributions [N, K] (one-hot rows, or smoothed ones that sum to 1). The head's weight [K, D]
/// and bias [K] train with the network, laid out as <see cref="Head.SoftmaxHead"/> stores them.
/// </summary>
public sealed class SoftmaxCrossEntropy(int classes) : TrainingLoss
{
    public const string HeadWeight = "head.weight";
    public const string HeadBias = "head.bias";
    public const string Targets = "targets";
    public int Classes { get; } = classes;

    internal override LossNodes Emit(GradientContext ctx, string features, bool backward, List<ValueInfoProto> inputs)
    {
        var e = ctx.Emit;
        var shape = ctx.Shape(features);
        var dimension = shape.Skip(1).Aggregate(1L,
            (p, d) => d < 0 ? throw new ArgumentException($"features '{features}' have no static size per image") : p * d);
        inputs.Add(OnnxTensorData.ValueInfo(HeadWeight, e.ElementType, [Classes, dimension]));
        inputs.Add(OnnxTensorData.ValueInfo(HeadBias, e.ElementType, [Classes]));
        inputs.Add(OnnxTensorData.ValueInfo(Targets, e.ElementType, [-1, Classes]));

        var flat = shape.Length == 2 ? features : e.Op("Flatten", "head_in", [features], OnnxAttributes.MakeInt("axis", 1));
        var logits = e.Op("Gemm", "head_logits", [flat, HeadWeight, HeadBias], OnnxAttributes.MakeInt("transB", 1));
        var logProbabilities = e.Op("LogSoftmax", "head_logp", [logits], OnnxAttributes.MakeInt("axis", 1));
        var probabilities = e.Op("Exp", "probabilities", [logProbabilities]);
        var batch = e.Op("Cast", "batch", [e.Op("Gather", "batch", [ctx.RuntimeShape(logits), e.Int64Scalar(0)])],
            OnnxAttributes.MakeInt("to", (long)e.ElementType));
        var perExample = e.Op("Reciprocal", "inv_batch", [batch]);
        var total = e.Op("ReduceSum", "ce_sum", [e.Mul(Targets, logProbabilities, "ce_terms")], OnnxAttributes.MakeInt("keepdims", 0));
        var loss = e.Op("Neg", "loss", [e.Mul(total, perExample, "ce_mean")]);
        if (!backward)
            return new LossNodes(loss, probabilities, Targets,
                [new TrainableParameter(HeadWeight, [Classes, dimension], ""), new TrainableParameter(HeadBias, [Classes], "")]);
        var parameters = new List<TrainableParameter>();

        // d loss / d logits = (softmax - targets) / N for targets whose rows sum to 1.
        var dLogits = e.Mul(e.Op("Sub", "dlogits", [probabilities, Targets]), perExample, "dlogits");
        parameters.Add(new TrainableParameter(HeadWeight, [Classes, dimension], e.Op("Gemm", "head_dw", [dLogits, flat], OnnxAttributes.MakeInt("transA", 1))));
        parameters.Add(new TrainableParameter(HeadBias, [Classes], e.ReduceSum(dLogits, "head_db", [0], keepDims: false)));
        if (ctx.NeedsGradient(features))
        {
            var dFlat = e.Op("Gemm", "head_dx", [dLogits, HeadWeight]);
            ctx.AddGradient(features, shape.Length == 2 ? dFlat : e.Op("Reshape", "head_dx", [dFlat, ctx.RuntimeShape(features)]));
        }
        return new LossNodes(loss, probabilities, Targets, parameters);
    }
}

/// <summary>
/// loss = sum(features * upstream) for a given upstream tensor: its gradient into the features is
/// exactly the upstream tensor, which makes it the probe for checking gradients against finite differences.
/// </summary>
internal sealed class ProjectionLoss : TrainingLoss
{
    public const string Upstream = "upstream";

    internal override LossNodes Emit(GradientContext ctx, string features, bool backward, List<ValueInfoProto> inputs)
    {
        var e = ctx.Emit;
        inputs.Add(OnnxTensorData.ValueInfo(Upstream, e.ElementType, ctx.Shape(features)));
        var loss = e.Op("ReduceSum", "loss", [e.Mul(features, Upstream, "projection")], OnnxAttributes.MakeInt("keepdims", 0));
        if (backward && ctx.NeedsGradient(features)) ctx.AddGradient(features, Upstream);
        return new LossNodes(loss, null, Upstream, []);
    }
}
