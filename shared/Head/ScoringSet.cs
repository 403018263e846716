using BottleneckPipeline.Metrics;

namespace BottleneckPipeline.Head;

/// <summary>
/// A split laid out as one contiguous matrix for scoring: plain cross-entropy and accuracy of the
/// current parameters, computed block by block, summed in row order (deterministic).
/// </summary>
public sealed class ScoringSet
{
    private readonly float[] _x;
    private readonly int[] _labels;
    private readonly int _dim;
    private float[] _logits = [];

    public ScoringSet(LabelledVectors set)
    {
        _dim = set.Dimension;
        _labels = set.Labels;
        _x = new float[set.Count * _dim];
        for (var i = 0; i < set.Count; i++) set.Rows[i].CopyTo(_x, i * _dim);
    }

    public SplitScore Score(float[] parameters, int classes, in ParallelWork parallel)
    {
        var n = _labels.Length;
        if (_logits.Length != n * classes) _logits = new float[n * classes];
        SoftmaxObjective<float>.ComputeLogits(parameters, classes, _dim, _x, n, _logits, parallel);
        double loss = 0;
        var correct = 0;
        for (var i = 0; i < n; i++)
        {
            var z = _logits.AsSpan(i * classes, classes);
            var label = _labels[i];
            loss += SoftmaxObjective<float>.LogSumExp(z) - z[label];
            if (ClassificationMetrics.ArgMax(z) == label) correct++;
        }
        return new SplitScore(loss / n, (double)correct / n);
    }
}
