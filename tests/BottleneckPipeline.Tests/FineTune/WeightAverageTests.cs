using BottleneckPipeline.FineTune;

namespace BottleneckPipeline.Tests.FineTune;

public class WeightAverageTests
{
    [Fact]
    public void Each_update_moves_the_average_a_share_1_minus_decay_toward_the_weights()
    {
        var average = new float[] { 1, -2, 0 };
        var weights = new float[] { 3, 2, 5 };
        WeightAverage.Update(average, weights, 0.75);
        Assert.Equal([1.5f, -1f, 1.25f], average);
        for (var i = 0; i < 200; i++) WeightAverage.Update(average, weights, 0.75);
        for (var i = 0; i < 3; i++) Assert.Equal(weights[i], average[i], 1e-5f); // constant weights: the average converges to them
        Assert.Equal([3f, 2f, 5f], weights); // the trained weights are never touched
    }

    [Fact]
    public void Off_is_an_empty_average_that_stays_empty()
    {
        var average = Array.Empty<float>();
        WeightAverage.Update(average, [1f, 2f], 0.99);
        Assert.Empty(average);
    }
}
