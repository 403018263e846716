namespace BottleneckPipeline.Confidence;

/// <summary>
/// How well an unknown score (higher = more likely of no class) separates in-class images from
/// out-of-distribution ones. The names are the keys Evaluate --ood reports.
/// </summary>
public static class OodMetrics
{
    /// <summary>
    /// Area under the ROC curve of telling out-of-distribution from in-class by the score: the chance
    /// that a random OOD image scores above a random in-class one, ties counting half (Mann-Whitney U
    /// from ranks). 1 separates perfectly, 0.5 is chance.
    /// </summary>
    public static double Auroc(IReadOnlyList<double> inClass, IReadOnlyList<double> outOfDistribution)
    {
        if (inClass.Count == 0 || outOfDistribution.Count == 0) return double.NaN;
        var all = inClass.Select(s => (Score: s, Out: false)).Concat(outOfDistribution.Select(s => (Score: s, Out: true)))
            .OrderBy(x => x.Score).ToArray();
        double outRankSum = 0;
        for (var i = 0; i < all.Length;)
        {
            var j = i;
            while (j < all.Length && all[j].Score == all[i].Score) j++;
            var rank = (i + 1 + j) / 2.0; // mean of the 1-based ranks i+1 .. j
            for (var k = i; k < j; k++)
                if (all[k].Out) outRankSum += rank;
            i = j;
        }
        double nOut = outOfDistribution.Count, nIn = inClass.Count;
        return (outRankSum - nOut * (nOut + 1) / 2) / (nOut * nIn);
    }

    /// <summary>
    /// The threshold that keeps <paramref name="keepShare"/> of these in-class scores: the smallest score
    /// with at least that share at or below it. An image is flagged unknown when its score is above it.
    /// </summary>
    public static double Threshold(IReadOnlyList<double> inClassScores, double keepShare = 0.95)
    {
        if (inClassScores.Count == 0) throw new ArgumentException("no in-class scores to set a threshold on");
        if (!(keepShare is > 0 and <= 1)) throw new ArgumentOutOfRangeException(nameof(keepShare), keepShare, "a share in (0, 1]");
        var sorted = inClassScores.Order().ToArray();
        var index = Math.Clamp((int)Math.Ceiling(keepShare * sorted.Length - 1e-9) - 1, 0, sorted.Length - 1);
        return sorted[index];
    }

    /// <summary>Share of these scores above the threshold (flagged unknown).</summary>
    public static double FlaggedShare(IReadOnlyList<double> scores, double threshold) =>
        scores.Count == 0 ? double.NaN : scores.Count(s => s > threshold) / (double)scores.Count;

    /// <summary>
    /// FPR at 95% TPR, the usual OOD figure: with in-class as positives and the threshold keeping 95% of
    /// the in-class scores given (the test split's own), the share of OOD images also kept. Lower is better.
    /// </summary>
    public static double FprAt95Tpr(IReadOnlyList<double> inClass, IReadOnlyList<double> outOfDistribution) =>
        1 - FlaggedShare(outOfDistribution, Threshold(inClass, 0.95));
}
