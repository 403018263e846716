using BottleneckPipeline.Head;

namespace BottleneckPipeline.Tests.Head;

public class SoftmaxHeadTests
{
    /// <summary>A head over dimension 1 whose logits are exactly its biases (x = 0).</summary>
    private static SoftmaxHead BiasOnly(params float[] bias) =>
        new(new float[bias.Length], bias, [.. bias.Select((_, i) => $"class{i}")], dimension: 1);

    [Theory]
    [InlineData(100f, 200f, 150f)]
    [InlineData(1000f, 999f, -1000f)]
    [InlineData(-1000f, -999f, -1001f)]
    [InlineData(3e38f, 1e38f, 0f)]
    public void Large_logits_give_finite_probabilities_and_the_right_class(float a, float b, float c)
    {
        float[] logits = [a, b, c];
        var p = BiasOnly(logits).Probabilities([0f]);
        Assert.All(p, v => Assert.True(float.IsFinite(v) && v >= 0 && v <= 1, $"probability {v}"));
        Assert.Equal(1.0, p.Sum(), 5);
        Assert.Equal(Array.IndexOf(logits, logits.Max()), Array.IndexOf(p, p.Max()));
        // Against softmax in double, shifted by the maximum.
        var max = logits.Max();
        var exp = logits.Select(z => Math.Exp((double)z - max)).ToArray();
        for (var k = 0; k < 3; k++) Assert.Equal(exp[k] / exp.Sum(), p[k], 6);
    }

    [Fact]
    public void Shifting_every_logit_changes_no_probability()
    {
        var small = BiasOnly(1f, 2f, 0.5f).Probabilities([0f]);
        var large = BiasOnly(501f, 502f, 500.5f).Probabilities([0f]);
        for (var k = 0; k < 3; k++) Assert.Equal(small[k], large[k], 6);
    }
}
