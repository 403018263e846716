using System.Globalization;

namespace BottleneckPipeline.Metrics;

/// <summary>
/// Whether a model learned anything: its validation accuracy must be clearly above what always
/// answering the largest class would score. "Clearly" is the lower end of the accuracy's 95%
/// interval, so a small validation split does not pass by luck.
/// </summary>
public static class ChanceCheck
{
    /// <summary>The warning to print and report, or null when the model is clearly better than chance.</summary>
    /// <param name="classCounts">validation images per class.</param>
    public static string? Warning(string model, Accuracy validation, IReadOnlyList<int> classCounts, IReadOnlyList<string> labelNames)
    {
        if (validation.Images == 0) return null;
        var largest = 0;
        for (var c = 1; c < classCounts.Count; c++) if (classCounts[c] > classCounts[largest]) largest = c;
        var baseline = (double)classCounts[largest] / validation.Images;
        if (validation.Ci95Low > baseline) return null;
        var share = (100 * baseline).ToString("0.0", CultureInfo.InvariantCulture);
        return $"{model}: validation accuracy {validation} is not clearly above the {share}% that always answering " +
               $"'{labelNames[largest]}' (the largest class) would score: the model has learned little. Check the labels and the backbone " +
               "(make inspect shows what it makes of an image), or add validation images if the split is small.";
    }
}
