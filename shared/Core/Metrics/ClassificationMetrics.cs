namespace BottleneckPipeline.Metrics;

/// <summary>Precision, recall and F1 of one class, with its number of true examples.</summary>
public sealed record ClassMetrics(string Label, double Precision, double Recall, double F1, int Support);

/// <summary>
/// Classification figures from true labels and predicted probabilities. The prediction is the
/// arg-max (first class on ties). A class never predicted has precision 0, never present recall 0
/// (scikit-learn's zero_division=0), so no figure is NaN.
/// </summary>
public sealed class ClassificationMetrics
{
    public required string[] LabelNames { get; init; }
    public required int Count { get; init; }
    public required Accuracy Accuracy { get; init; }
    public required int TopK { get; init; }
    public required Accuracy TopKAccuracy { get; init; }
    public required double MacroF1 { get; init; }
    public required ClassMetrics[] PerClass { get; init; }
    /// <summary>[true class][predicted class] counts.</summary>
    public required int[][] ConfusionMatrix { get; init; }

    public static ClassificationMetrics Compute(IReadOnlyList<int> trueLabels, IReadOnlyList<float[]> probabilities, string[] labelNames, int topK)
    {
        if (trueLabels.Count != probabilities.Count) throw new ArgumentException($"{trueLabels.Count} labels but {probabilities.Count} predictions");
        var k = labelNames.Length;
        var confusion = Enumerable.Range(0, k).Select(_ => new int[k]).ToArray();
        var inTopK = 0;
        for (var i = 0; i < trueLabels.Count; i++)
        {
            var p = probabilities[i];
            confusion[trueLabels[i]][ArgMax(p)]++;
            if (Rank(p, trueLabels[i]) < topK) inTopK++;
        }
        return FromConfusion(confusion, labelNames, topK, inTopK);
    }

    /// <summary>Everything but top-k accuracy follows from the confusion matrix.</summary>
    /// <param name="topKCorrect">how many images had their true class among the top k.</param>
    public static ClassificationMetrics FromConfusion(int[][] confusion, string[] labelNames, int topK, int topKCorrect)
    {
        var k = labelNames.Length;
        var total = confusion.Sum(r => r.Sum());
        var correct = Enumerable.Range(0, k).Sum(c => confusion[c][c]);
        var perClass = new ClassMetrics[k];
        for (var c = 0; c < k; c++)
        {
            var tp = confusion[c][c];
            var support = confusion[c].Sum();
            var predicted = confusion.Sum(r => r[c]);
            var precision = predicted == 0 ? 0 : (double)tp / predicted;
            var recall = support == 0 ? 0 : (double)tp / support;
            var f1 = precision + recall == 0 ? 0 : 2 * precision * recall / (precision + recall);
            perClass[c] = new ClassMetrics(labelNames[c], precision, recall, f1, support);
        }
        return new ClassificationMetrics
        {
            LabelNames = labelNames,
            Count = total,
            Accuracy = Accuracy.Of(correct, total),
            TopK = topK,
            TopKAccuracy = Accuracy.Of(topKCorrect, total),
            MacroF1 = k == 0 ? 0 : perClass.Average(m => m.F1),
            PerClass = perClass,
            ConfusionMatrix = confusion,
        };
    }

    /// <summary>Index of the largest probability; the first one on ties.</summary>
    public static int ArgMax(ReadOnlySpan<float> p)
    {
        var best = 0;
        for (var c = 1; c < p.Length; c++) if (p[c] > p[best]) best = c;
        return best;
    }

    /// <summary>0-based position of class c when sorted by probability (ties broken by lower index first).</summary>
    public static int Rank(ReadOnlySpan<float> p, int c)
    {
        var rank = 0;
        for (var j = 0; j < p.Length; j++)
            if (p[j] > p[c] || (p[j] == p[c] && j < c)) rank++;
        return rank;
    }

    /// <summary>The k most probable classes, most probable first (ties: lower index first).</summary>
    public static int[] TopClasses(ReadOnlySpan<float> p, int k)
    {
        var order = new int[p.Length];
        for (var c = 0; c < p.Length; c++) order[Rank(p, c)] = c;
        return order[..Math.Min(k, p.Length)];
    }
}
