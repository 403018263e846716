using BottleneckPipeline.Cache;
using BottleneckPipeline.Head;
using BottleneckPipeline.Tests.Fixtures;
using BottleneckPipeline.TrainHead;
using BottleneckPipeline.Training;

namespace BottleneckPipeline.Tests.Head;

public class BatchSamplerTests
{
    private static readonly int[] Counts = [400, 100, 40, 10, 2];
    private static readonly LabelledVectors Imbalanced =
        SyntheticVectors.Sample(SyntheticVectors.Centres(5, 4, 1, 1), Counts, 0.1, 2);

    [Fact]
    public void Class_balanced_sampling_draws_classes_uniformly()
    {
        var sampler = new ClassBalancedSampler(Imbalanced, new SeededRandom(3));
        var perClass = new int[5];
        var perRow = new int[Imbalanced.Count];
        var batch = new int[100];
        for (var b = 0; b < 1000; b++)
        {
            sampler.Next(batch);
            foreach (var i in batch) { perClass[Imbalanced.Labels[i]]++; perRow[i]++; }
        }
        // 100,000 draws: each class expects 20,000 (sd ~126); allow 5 sd.
        Assert.All(perClass, n => Assert.InRange(n, 20_000 - 650, 20_000 + 650));
        // Every row of the rarest class is drawn (each expects 10,000).
        var rare = Enumerable.Range(0, Imbalanced.Count).Where(i => Imbalanced.Labels[i] == 4);
        Assert.All(rare, i => Assert.InRange(perRow[i], 9_000, 11_000));
    }

    [Fact]
    public void Plain_sampling_visits_every_row_once_per_epoch()
    {
        var sampler = new EpochShuffleSampler(Imbalanced.Count, new SeededRandom(3));
        var epoch = new int[Imbalanced.Count];
        sampler.Next(epoch);
        Assert.Equal(Enumerable.Range(0, Imbalanced.Count), epoch.Order());
        var second = new int[Imbalanced.Count];
        sampler.Next(second);
        Assert.Equal(Enumerable.Range(0, Imbalanced.Count), second.Order());
        Assert.NotEqual(epoch, second);
    }

    [Fact]
    public void Seeded_random_is_reproducible_and_in_range()
    {
        var a = new SeededRandom(42);
        var b = new SeededRandom(42);
        var xs = Enumerable.Range(0, 1000).Select(_ => a.NextInt(7)).ToArray();
        Assert.Equal(xs, Enumerable.Range(0, 1000).Select(_ => b.NextInt(7)));
        Assert.All(xs, x => Assert.InRange(x, 0, 6));
        Assert.Equal(7, xs.Distinct().Count());
        Assert.NotEqual(new SeededRandom(0).NextUInt64(), new SeededRandom(1).NextUInt64());
    }
}
