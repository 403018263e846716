using BottleneckPipeline.Head;
using BottleneckPipeline.Runtime;
using BottleneckPipeline.Training;

namespace BottleneckPipeline.Tests.Head;

public class SoftmaxGradientTests
{
    [Theory]
    [InlineData(0.0, 0.0)]
    [InlineData(0.3, 0.0)]
    [InlineData(0.0, 0.2)]
    [InlineData(0.3, 0.2)]
    public void Analytic_gradient_matches_central_differences_in_double(double l2, double smoothing)
    {
        const int classes = 4, dim = 7, batch = 6;
        var r = new SeededRandom(7);
        var parameters = Enumerable.Range(0, classes * dim + classes).Select(_ => r.NextGaussian()).ToArray();
        var x = Enumerable.Range(0, batch * dim).Select(_ => 2 * r.NextGaussian()).ToArray();
        var labels = Enumerable.Range(0, batch).Select(_ => r.NextInt(classes)).ToArray();
        var gradient = new double[parameters.Length];

        double Loss(double[] p, double[] g) =>
            SoftmaxObjective<double>.LossAndGradient(p, classes, dim, x, labels, batch, l2, smoothing, g, new double[batch * classes], new ParallelWork(1));

        Loss(parameters, gradient);
        const double h = 1e-6;
        var scratch = new double[parameters.Length];
        for (var j = 0; j < parameters.Length; j++)
        {
            var plus = (double[])parameters.Clone();
            var minus = (double[])parameters.Clone();
            plus[j] += h;
            minus[j] -= h;
            var numeric = (Loss(plus, scratch) - Loss(minus, scratch)) / (2 * h);
            Assert.True(Math.Abs(numeric - gradient[j]) <= 1e-7 * Math.Max(1, Math.Abs(numeric)),
                $"parameter {j}: analytic {gradient[j]:R}, numeric {numeric:R}");
        }
    }

    [Fact]
    public void Loss_is_cross_entropy_of_smoothed_targets_plus_half_l2()
    {
        // One example, two classes, dimension one: everything by hand.
        var parameters = new double[] { 1.0, -1.0, 0.5, 0.0 }; // W = [1; -1], b = [0.5, 0]
        var x = new double[] { 2.0 };
        var logits = new double[2];
        var loss = SoftmaxObjective<double>.LossAndGradient(parameters, 2, 1, x, [0], 1, 0.1, 0.2, new double[4], logits, new ParallelWork(1));
        // z = [2.5, -2]; log p = z - logsumexp(z); targets q = [0.9, 0.1].
        var lse = Math.Log(Math.Exp(2.5) + Math.Exp(-2));
        var expected = -(0.9 * (2.5 - lse) + 0.1 * (-2 - lse)) + 0.05 * (1 + 1);
        Assert.Equal(expected, loss, 12);
    }
}
