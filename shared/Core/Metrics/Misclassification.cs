namespace BottleneckPipeline.Metrics;

/// <summary>A class and the probability the head gave it.</summary>
public sealed record LabelProbability(string Label, double Probability);

/// <summary>
/// An example the head got wrong, with how sure it was of the wrong answer and its top-k classes
/// (the predicted one first), which show whether the true class was a close second.
/// </summary>
public sealed record Misclassification(string Path, string TrueLabel, string PredictedLabel, double Confidence, LabelProbability[] TopK)
{
    /// <summary>Every wrong prediction, most confident first (then by path, for a stable order).</summary>
    public static Misclassification[] List(IReadOnlyList<string> paths, IReadOnlyList<int> trueLabels, IReadOnlyList<float[]> probabilities,
        string[] labelNames, int topK)
    {
        var wrong = new List<Misclassification>();
        for (var i = 0; i < trueLabels.Count; i++)
        {
            var p = probabilities[i];
            var predicted = ClassificationMetrics.ArgMax(p);
            if (predicted == trueLabels[i]) continue;
            var top = ClassificationMetrics.TopClasses(p, topK).Select(c => new LabelProbability(labelNames[c], p[c])).ToArray();
            wrong.Add(new Misclassification(paths[i], labelNames[trueLabels[i]], labelNames[predicted], p[predicted], top));
        }
        return wrong.OrderByDescending(m => m.Confidence).ThenBy(m => m.Path, StringComparer.Ordinal).ToArray();
    }

    // Value equality over the top-k list too, so a report read back from JSON equals the one written.
    public bool Equals(Misclassification? other) =>
        other is not null && Path == other.Path && TrueLabel == other.TrueLabel && PredictedLabel == other.PredictedLabel &&
        Confidence.Equals(other.Confidence) && TopK.SequenceEqual(other.TopK);

    public override int GetHashCode() => HashCode.Combine(Path, TrueLabel, PredictedLabel, Confidence, TopK.Length);
}
