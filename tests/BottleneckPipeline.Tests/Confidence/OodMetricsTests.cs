using BottleneckPipeline.Confidence;

namespace BottleneckPipeline.Tests.Confidence;

public class OodMetricsTests
{
    [Fact]
    public void Auroc_of_known_orderings()
    {
        Assert.Equal(1.0, OodMetrics.Auroc([1, 2, 3], [4, 5]));
        Assert.Equal(0.0, OodMetrics.Auroc([4, 5], [1, 2, 3]));
        Assert.Equal(0.5, OodMetrics.Auroc([1, 1], [1, 1]));
        // Pairs (in, out): out above in in 3 of 4 pairs: (1,2) (1,4) (3,4) yes, (3,2) no.
        Assert.Equal(0.75, OodMetrics.Auroc([1, 3], [2, 4]));
        // A tie counts half: (2 vs 2) half, (2 vs 3) yes -> 1.5 / 2.
        Assert.Equal(0.75, OodMetrics.Auroc([2], [2, 3]));
    }

    [Theory]
    [InlineData(0.95)]
    [InlineData(0.9)]
    [InlineData(0.5)]
    public void Threshold_keeps_at_least_the_share(double keep)
    {
        var rng = new Random(2);
        var scores = Enumerable.Range(0, 137).Select(_ => rng.NextDouble()).ToArray();
        var t = OodMetrics.Threshold(scores, keep);
        var kept = scores.Count(s => s <= t) / (double)scores.Length;
        Assert.True(kept >= keep, $"kept {kept}");
        Assert.True(kept < keep + 1.0 / scores.Length + 1e-9, $"kept {kept}: the threshold could be lower");
    }

    [Fact]
    public void Flagged_share_and_fpr()
    {
        var inClass = Enumerable.Range(1, 100).Select(i => (double)i).ToArray();
        Assert.Equal(95, OodMetrics.Threshold(inClass));
        Assert.Equal(0.5, OodMetrics.FlaggedShare([90, 96, 100, 10], 95));
        Assert.Equal(0.25, OodMetrics.FprAt95Tpr(inClass, [90, 96, 100, 120]));
    }
}
