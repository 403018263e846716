using System.Runtime.InteropServices;
using BottleneckPipeline.Config;
using BottleneckPipeline.Head;
using BottleneckPipeline.Training;

namespace BottleneckPipeline.Tests.Head;

public sealed class OptimizerTests
{
    /// <summary>FineTune updates its weights in ranges on several cores: three steps made so, the ranges in reverse order,
    /// must leave the same bits as three whole steps, for every rule.</summary>
    [Theory]
    [InlineData(OptimizerName.Sgd)]
    [InlineData(OptimizerName.Rmsprop)]
    [InlineData(OptimizerName.Adam)]
    public void A_step_made_in_ranges_in_any_order_is_bitwise_a_whole_step(OptimizerName name)
    {
        const int count = 100_003, range = 7_919;
        var random = new SeededRandom(5);
        var start = Enumerable.Range(0, count).Select(_ => (float)random.NextGaussian()).ToArray();
        var gradients = Enumerable.Range(0, 3).Select(_ => Enumerable.Range(0, count).Select(_ => (float)(0.1 * random.NextGaussian())).ToArray()).ToArray();
        var (whole, ranged) = (start.ToArray(), start.ToArray());
        var (wholeRule, rangedRule) = (Optimizer.Create(name, 0.01, 0.9, count), Optimizer.Create(name, 0.01, 0.9, count));
        foreach (var g in gradients)
        {
            wholeRule.Step(whole, g);
            rangedRule.BeginStep();
            for (var s = (count - 1) / range * range; s >= 0; s -= range) rangedRule.Update(ranged, g, s, Math.Min(range, count - s));
        }
        Assert.False(whole.AsSpan().SequenceEqual(start), "the steps moved nothing");
        Assert.True(MemoryMarshal.AsBytes(whole.AsSpan()).SequenceEqual(MemoryMarshal.AsBytes(ranged.AsSpan())), "ranged steps differ from whole ones");
        for (var i = 0; i < wholeRule.State.Count; i++)
            Assert.True(MemoryMarshal.AsBytes(wholeRule.State[i].AsSpan()).SequenceEqual(MemoryMarshal.AsBytes(rangedRule.State[i].AsSpan())),
                $"state {i} differs");
    }
}
