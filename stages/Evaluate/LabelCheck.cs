using BottleneckPipeline.Runtime;

namespace BottleneckPipeline.Evaluate;

/// <summary>For `Evaluate --data DIR`: every class folder must be a label the head was trained on.</summary>
internal static class LabelCheck
{
    public static void EnsureKnown(IEnumerable<string> dataLabels, IReadOnlyCollection<string> headLabels, string dataDir, string headPath)
    {
        var known = new HashSet<string>(headLabels, StringComparer.Ordinal);
        var unknown = dataLabels.Where(l => !known.Contains(l)).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToArray();
        if (unknown.Length == 0) return;
        throw new InputException(
            $"{dataDir} has class folder(s) the head {headPath} does not know: {string.Join(", ", unknown)}. " +
            $"The head knows: {string.Join(", ", headLabels)}. Rename or remove those folders, or train a head that includes them.");
    }
}
