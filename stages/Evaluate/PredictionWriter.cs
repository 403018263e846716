using System.Globalization;
using System.Text;
using BottleneckPipeline.Evaluate.Escaping;
using BottleneckPipeline.Metrics;
using BottleneckPipeline.Runtime;

namespace BottleneckPipeline.Evaluate;

/// <summary>predictions CSV: path, then the k most probable labels with their probabilities.</summary>
internal static class PredictionWriter
{
    public static string Header(int k)
    {
        var sb = new StringBuilder("path");
        for (var j = 1; j <= k; j++) sb.Append($",label_{j},probability_{j}");
        return sb.ToString();
    }

    public static void Write(string path, IReadOnlyList<string> paths, IReadOnlyList<float[]> probabilities, string[] labelNames, int k)
    {
        if (paths.Count != probabilities.Count) throw new ArgumentException($"{paths.Count} paths but {probabilities.Count} predictions");
        var columns = Math.Min(k, labelNames.Length);
        var sb = new StringBuilder(Header(columns)).Append('\n');
        for (var i = 0; i < paths.Count; i++)
        {
            sb.Append(CsvCell.Of(paths[i]));
            foreach (var c in ClassificationMetrics.TopClasses(probabilities[i], columns))
                sb.Append(',').Append(CsvCell.Of(labelNames[c])).Append(',').Append(probabilities[i][c].ToString("0.######", CultureInfo.InvariantCulture));
            sb.Append('\n');
        }
        AtomicFile.WriteAllText(path, sb.ToString());
    }
}
