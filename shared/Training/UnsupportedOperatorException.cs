using BottleneckPipeline.Runtime;

namespace BottleneckPipeline.Training;

/// <summary>
/// The trainable part of a graph holds a node the engine cannot differentiate. Raised while the
/// training graph is built (config time), never mid-epoch; the message names the op and the node.
/// </summary>
/// <param name="advice">What to do; by default, train fewer stages so that the node stays frozen.</param>
internal sealed class UnsupportedOperatorException(string opType, string nodeName, string reason, string? advice = null)
    : PipelineException(ExitCodes.BadConfig,
        $"cannot train through node '{nodeName}' (op {opType}): {reason}. " +
        (advice ?? "Train fewer stages (a smaller 'fine_tune.trainable') so that this node stays in the frozen part") + ".")
{
    public string OpType { get; } = opType;
    public string NodeName { get; } = nodeName;
}
