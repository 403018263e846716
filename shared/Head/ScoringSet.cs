using BottleneckPipeline.Cache;
using BottleneckPipeline.Metrics;
using BottleneckPipeline.Runtime;

namespace BottleneckPipeline.Head;

/// <summary>
/// Plain cross-entropy and accuracy of the current parameters on a split, computed block by block
/// straight from its <see cref="VectorMatrix"/> (no second copy of the split, whatever its size)
/// and summed in row order: deterministic, and the same for any block size.
/// </summary>
public sealed class ScoringSet
{
    /// <summary>Rows scored at once: 8 MB of 512-d float32.</summary>
    private const int BlockRows = 4096;

    private readonly VectorMatrix _vectors;
    private readonly int[] _labels;
    private readonly int _dim;
    private float[] _x = [];
    private float[] _logits = [];

    public ScoringSet(LabelledVectors set)
    {
        _vectors = set.Vectors;
        _dim = set.Dimension;
        _labels = set.Labels;
    }

    public SplitScore Score(float[] parameters, int classes, in ParallelWork parallel)
    {
        var n = _labels.Length;
        var block = Math.Min(n, BlockRows);
        if (_x.Length != block * _dim) _x = new float[block * _dim];
        if (_logits.Length != block * classes) _logits = new float[block * classes];
        double loss = 0;
        var correct = 0;
        for (var start = 0; start < n; start += block)
        {
            var rows = Math.Min(block, n - start);
            _vectors.CopyRows(start, rows, _x);
            SoftmaxObjective<float>.ComputeLogits(parameters, classes, _dim, _x, rows, _logits, parallel);
            for (var i = 0; i < rows; i++)
            {
                var z = _logits.AsSpan(i * classes, classes);
                var label = _labels[start + i];
                loss += SoftmaxObjective<float>.LogSumExp(z) - z[label];
                if (ClassificationMetrics.ArgMax(z) == label) correct++;
            }
        }
        return new SplitScore(loss / n, (double)correct / n);
    }
}
