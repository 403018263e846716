namespace BottleneckPipeline.Metrics;

/// <summary>An example the head got wrong, with how sure it was of the wrong answer.</summary>
public sealed record Misclassification(string Path, string TrueLabel, string PredictedLabel, double Confidence)
{
    /// <summary>Every wrong prediction, most confident first (then by path, for a stable order).</summary>
    public static Misclassification[] List(IReadOnlyList<string> paths, IReadOnlyList<int> trueLabels, IReadOnlyList<float[]> probabilities, string[] labelNames)
    {
        var wrong = new List<Misclassification>();
        for (var i = 0; i < trueLabels.Count; i++)
        {
            var predicted = ClassificationMetrics.ArgMax(probabilities[i]);
            if (predicted != trueLabels[i])
                wrong.Add(new Misclassification(paths[i], labelNames[trueLabels[i]], labelNames[predicted], probabilities[i][predicted]));
        }
        return wrong.OrderByDescending(m => m.Confidence).ThenBy(m => m.Path, StringComparer.Ordinal).ToArray();
    }
}
