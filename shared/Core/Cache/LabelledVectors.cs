using BottleneckPipeline.Runtime;

namespace BottleneckPipeline.Cache;

/// <summary>
/// One split's bottleneck vectors with their labels, as the head sees them: rows of equal length
/// (a <see cref="VectorMatrix"/>, float32 or float16 in memory), a label index per row into
/// <see cref="LabelNames"/>, and where each row came from.
/// </summary>
public sealed class LabelledVectors
{
    public LabelledVectors(IReadOnlyList<float[]> rows, int[] labels, string[] labelNames, string[] contentIds, string[] relativePaths, int? dimension = null)
        : this(ToMatrix(rows, relativePaths, dimension), labels, labelNames, contentIds, relativePaths)
    {
    }

    public LabelledVectors(VectorMatrix vectors, int[] labels, string[] labelNames, string[] contentIds, string[] relativePaths)
    {
        if (labels.Length != vectors.Count || contentIds.Length != vectors.Count || relativePaths.Length != vectors.Count)
            throw new ArgumentException($"rows ({vectors.Count}), labels ({labels.Length}), content ids ({contentIds.Length}) " +
                                        $"and paths ({relativePaths.Length}) must have the same count");
        for (var i = 0; i < labels.Length; i++)
            if ((uint)labels[i] >= (uint)labelNames.Length)
                throw new ArgumentException($"label {labels[i]} of {relativePaths[i]} is outside the {labelNames.Length} label names");
        Vectors = vectors;
        Labels = labels;
        LabelNames = labelNames;
        ContentIds = contentIds;
        RelativePaths = relativePaths;
    }

    private static VectorMatrix ToMatrix(IReadOnlyList<float[]> rows, string[] relativePaths, int? dimension)
    {
        if (rows is VectorMatrix m) return m;
        var dim = dimension ?? (rows.Count > 0 ? rows[0].Length : throw new ArgumentException("an empty set needs its dimension"));
        for (var i = 0; i < rows.Count; i++)
            if (rows[i].Length != dim)
                throw new InputException($"vector of {(i < relativePaths.Length ? relativePaths[i] : $"row {i}")} has {rows[i].Length} values, " +
                                         $"expected {dim}: the cache mixes backbones; re-run Extract.");
        return VectorMatrix.FromRows(rows, dim);
    }

    public VectorMatrix Vectors { get; }
    /// <summary>Each row as a new float32 array (for small sets and tests; the trainer reads <see cref="Vectors"/>).</summary>
    public IReadOnlyList<float[]> Rows => Vectors;
    public int[] Labels { get; }
    public string[] LabelNames { get; }
    public string[] ContentIds { get; }
    public string[] RelativePaths { get; }
    public int Dimension => Vectors.Dimension;
    public int Count => Vectors.Count;
    public int ClassCount => LabelNames.Length;

    /// <summary>Row indices of each class, in row order.</summary>
    public int[][] IndicesByClass()
    {
        var lists = Enumerable.Range(0, ClassCount).Select(_ => new List<int>()).ToArray();
        for (var i = 0; i < Count; i++) lists[Labels[i]].Add(i);
        return lists.Select(l => l.ToArray()).ToArray();
    }
}
