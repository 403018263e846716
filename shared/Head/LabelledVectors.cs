using BottleneckPipeline.Runtime;

namespace BottleneckPipeline.Head;

/// <summary>
/// One split's bottleneck vectors with their labels, as the head sees them: rows of equal length,
/// a label index per row into <see cref="LabelNames"/>, and where each row came from.
/// </summary>
public sealed class LabelledVectors
{
    public LabelledVectors(IReadOnlyList<float[]> rows, int[] labels, string[] labelNames, string[] contentIds, string[] relativePaths, int? dimension = null)
    {
        if (labels.Length != rows.Count || contentIds.Length != rows.Count || relativePaths.Length != rows.Count)
            throw new ArgumentException($"rows ({rows.Count}), labels ({labels.Length}), content ids ({contentIds.Length}) and paths ({relativePaths.Length}) must have the same count");
        var dim = dimension ?? (rows.Count > 0 ? rows[0].Length : throw new ArgumentException("an empty set needs its dimension"));
        for (var i = 0; i < rows.Count; i++)
        {
            if (rows[i].Length != dim)
                throw new InputException($"vector of {relativePaths[i]} has {rows[i].Length} values, expected {dim}: the cache mixes backbones; re-run Extract.");
            if ((uint)labels[i] >= (uint)labelNames.Length)
                throw new ArgumentException($"label {labels[i]} of {relativePaths[i]} is outside the {labelNames.Length} label names");
        }
        Rows = rows;
        Labels = labels;
        LabelNames = labelNames;
        ContentIds = contentIds;
        RelativePaths = relativePaths;
        Dimension = dim;
    }

    public IReadOnlyList<float[]> Rows { get; }
    public int[] Labels { get; }
    public string[] LabelNames { get; }
    public string[] ContentIds { get; }
    public string[] RelativePaths { get; }
    public int Dimension { get; }
    public int Count => Rows.Count;
    public int ClassCount => LabelNames.Length;

    /// <summary>Row indices of each class, in row order.</summary>
    public int[][] IndicesByClass()
    {
        var lists = Enumerable.Range(0, ClassCount).Select(_ => new List<int>()).ToArray();
        for (var i = 0; i < Count; i++) lists[Labels[i]].Add(i);
        return lists.Select(l => l.ToArray()).ToArray();
    }
}
