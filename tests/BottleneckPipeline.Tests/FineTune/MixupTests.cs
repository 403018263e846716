using BottleneckPipeline.FineTune;
using BottleneckPipeline.Head;
using BottleneckPipeline.Training;

namespace BottleneckPipeline.Tests.FineTune;

public class MixupTests
{
    private static (float[] Inputs, float[] Targets) Batch()
    {
        // 4 rows of 3 values (row r holds r, r, r) and one-hot targets over 2 classes.
        var inputs = new float[] { 0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3 };
        var targets = new float[] { 1, 0, 0, 1, 1, 0, 0, 1 };
        return (inputs, targets);
    }

    [Fact]
    public void Each_row_and_its_target_are_the_same_blend_of_two_rows_of_the_batch()
    {
        var (inputs, targets) = Batch();
        var (originalInputs, originalTargets) = Batch();
        var lambda = new Mixup(0.4).Apply(inputs, targets, 4, 3, 2, new SeededRandom(7));
        Assert.InRange(lambda, 0f, 1f);
        for (var i = 0; i < 4; i++)
        {
            // The row's values say which partner it took: v = lambda i + (1 - lambda) j.
            var j = lambda == 1f ? i : (inputs[i * 3] - lambda * i) / (1 - lambda);
            var partner = (int)Math.Round(j);
            Assert.InRange(partner, 0, 3);
            Assert.Equal(j, partner, 3);
            Assert.Equal(inputs[i * 3], inputs[i * 3 + 2]);
            for (var c = 0; c < 2; c++)
                Assert.Equal(lambda * originalTargets[i * 2 + c] + (1 - lambda) * originalTargets[partner * 2 + c], targets[i * 2 + c], 5);
            Assert.Equal(1f, targets[i * 2] + targets[i * 2 + 1], 5);
        }
        Assert.NotEqual(originalInputs, inputs);
    }

    [Fact]
    public void The_same_seed_blends_the_same_way_and_alpha_0_leaves_the_batch_alone()
    {
        var (a, at) = Batch();
        var (b, bt) = Batch();
        new Mixup(0.2).Apply(a, at, 4, 3, 2, new SeededRandom(3));
        new Mixup(0.2).Apply(b, bt, 4, 3, 2, new SeededRandom(3));
        Assert.Equal(a, b);
        Assert.Equal(at, bt);

        var (c, ct) = Batch();
        Assert.Equal(1f, new Mixup(0).Apply(c, ct, 4, 3, 2, new SeededRandom(3)));
        Assert.Equal(Batch().Inputs, c);
    }

    [Theory]
    [InlineData(0.2)]
    [InlineData(1.0)]
    [InlineData(2.0)]
    public void Beta_draws_have_the_distribution_s_mean_and_variance(double alpha)
    {
        var random = new SeededRandom(11);
        var draws = Enumerable.Range(0, 20000).Select(_ => Mixup.Beta(alpha, random)).ToArray();
        Assert.All(draws, d => Assert.InRange(d, 0, 1));
        var mean = draws.Average();
        var variance = draws.Select(d => (d - mean) * (d - mean)).Average();
        Assert.Equal(0.5, mean, 0.01);
        Assert.Equal(1 / (4 * (2 * alpha + 1)), variance, 0.005); // Beta(a, a): 1 / (4 (2a + 1))
    }
}
