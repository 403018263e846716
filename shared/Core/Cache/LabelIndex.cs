namespace BottleneckPipeline.Cache;

/// <summary>Each label name's position in a label list (the index's order, or the head's).</summary>
public static class LabelIndex
{
    public static Dictionary<string, int> Of(IReadOnlyList<string> labelNames)
    {
        var index = new Dictionary<string, int>(labelNames.Count, StringComparer.Ordinal);
        for (var i = 0; i < labelNames.Count; i++) index.Add(labelNames[i], i);
        return index;
    }
}
