using BottleneckPipeline.Confidence;
using BottleneckPipeline.Head;

namespace BottleneckPipeline.Tests.Confidence;

public class TemperatureScalingTests
{
    /// <summary>Logits whose labels are drawn from softmax(u), shown as u x scale: the fit must find T = scale.</summary>
    private static (List<float[]> Logits, List<int> Labels) Drawn(double scale, int n, int classes, int seed)
    {
        var rng = new Random(seed);
        var logits = new List<float[]>();
        var labels = new List<int>();
        for (var i = 0; i < n; i++)
        {
            var u = Enumerable.Range(0, classes).Select(_ => (float)(rng.NextDouble() * 6 - 3)).ToArray();
            var p = TemperatureScaling.Probabilities(u, 1);
            var r = rng.NextDouble();
            var label = 0;
            for (var acc = p[0]; acc < r && label < classes - 1; acc += p[++label]) { }
            labels.Add(label);
            logits.Add([.. u.Select(v => (float)(v * scale))]);
        }
        return (logits, labels);
    }

    [Theory]
    [InlineData(2.5)]
    [InlineData(1.0)]
    [InlineData(0.4)]
    public void Fit_recovers_a_known_temperature(double truth)
    {
        var (logits, labels) = Drawn(truth, 6000, 5, seed: 3);
        var t = TemperatureScaling.Fit(logits, labels);
        Assert.InRange(t, truth * 0.92, truth * 1.08);
        // The fitted T is a minimum of the NLL: either side is worse.
        var nll = TemperatureScaling.NegativeLogLikelihood(logits, labels, t);
        Assert.True(nll <= TemperatureScaling.NegativeLogLikelihood(logits, labels, t * 1.05));
        Assert.True(nll <= TemperatureScaling.NegativeLogLikelihood(logits, labels, t / 1.05));
    }

    [Fact]
    public void Fit_is_deterministic_and_one_without_rows()
    {
        var (logits, labels) = Drawn(1.7, 500, 3, seed: 9);
        Assert.Equal(TemperatureScaling.Fit(logits, labels), TemperatureScaling.Fit(logits, labels));
        Assert.Equal(1.0, TemperatureScaling.Fit([], []));
    }

    [Fact]
    public void Apply_folds_the_temperature_into_the_head()
    {
        var head = new SoftmaxHead([1f, -2f, 0.5f, 3f, 0f, -1f], [0.1f, -0.3f], ["a", "b"], 3);
        float[] x = [0.4f, 1.2f, -0.7f];
        var scaled = TemperatureScaling.Apply(head, 2.0);
        var expected = TemperatureScaling.Probabilities(TemperatureScaling.Logits(head, x), 2.0);
        var actual = scaled.Probabilities(x);
        for (var k = 0; k < 2; k++) Assert.True(Math.Abs(expected[k] - actual[k]) < 1e-5, $"{expected[k]} vs {actual[k]}");
        Assert.NotEqual(head.Probabilities(x)[0], actual[0], 3);
    }
}

public class CalibrationTests
{
    [Fact]
    public void Ece_of_a_hand_worked_case()
    {
        // Bin (0.8667, 0.9333]: confidences 0.9, 0.9, 0.9, 0.9, one wrong: accuracy 0.75, gap 0.15.
        // Bin (0.5333, 0.6]: confidences 0.58, 0.58, both right: gap 0.42.
        // ECE = 4/6 x 0.15 + 2/6 x 0.42 = 0.24.
        List<float[]> p = [[0.9f, 0.1f], [0.9f, 0.1f], [0.1f, 0.9f], [0.9f, 0.1f], [0.58f, 0.42f], [0.42f, 0.58f]];
        int[] labels = [0, 0, 1, 1, 0, 1];
        Assert.Equal(0.15 * 4 / 6 + 0.42 * 2 / 6, Calibration.ExpectedCalibrationError(p, labels), 5);
        var bins = Calibration.Reliability(p, labels);
        Assert.Equal(15, bins.Length);
        Assert.Equal(6, bins.Sum(b => b.Count));
        Assert.Equal(4, bins[13].Count);
        Assert.Equal(0.75, bins[13].Accuracy, 6);
        Assert.Equal(2, bins[8].Count);
        Assert.True(double.IsNaN(bins[0].Accuracy));
    }

    [Fact]
    public void Bin_edges_are_closed_above()
    {
        var bins = Calibration.Reliability([0.5, 1.0, 0.0, 0.999], [true, true, false, true]);
        Assert.Equal(1, bins[0].Count); // 0 joins the first bin
        Assert.Equal(1, bins[7].Count); // 0.5 in (7/15, 8/15]
        Assert.Equal(2, bins[14].Count); // 1.0 in the last, not past it
    }

    [Fact]
    public void Perfectly_calibrated_draws_have_a_small_ece_and_a_floor_that_shrinks_with_n()
    {
        var rng = new Random(5);
        var conf = Enumerable.Range(0, 20000).Select(_ => 0.5 + rng.NextDouble() / 2).ToArray();
        var right = conf.Select(c => rng.NextDouble() < c).ToArray();
        Assert.InRange(Calibration.ExpectedCalibrationError(Calibration.Reliability(conf, right)), 0, 0.015);
        var small = Calibration.SamplingFloor(conf.Take(150).ToArray());
        var large = Calibration.SamplingFloor(conf.Take(5000).ToArray(), draws: 20);
        Assert.InRange(small, 0.02, 0.15);
        Assert.True(large < small / 3, $"floor {large} at 5000 vs {small} at 150");
    }

    [Fact]
    public void Over_confident_logits_are_improved_by_the_fitted_temperature()
    {
        var rng = new Random(11);
        List<float[]> logits = [];
        List<int> labels = [];
        for (var i = 0; i < 4000; i++)
        {
            var u = Enumerable.Range(0, 4).Select(_ => (float)(rng.NextDouble() * 4 - 2)).ToArray();
            var p = TemperatureScaling.Probabilities(u, 1);
            var r = rng.NextDouble();
            var label = 0;
            for (var acc = p[0]; acc < r && label < 3; acc += p[++label]) { }
            labels.Add(label);
            logits.Add([.. u.Select(v => v * 3f)]);
        }
        var (fitL, fitY) = (logits.Take(2000).ToList(), labels.Take(2000).ToList());
        var (testL, testY) = (logits.Skip(2000).ToList(), labels.Skip(2000).ToList());
        var t = TemperatureScaling.Fit(fitL, fitY);
        var before = Calibration.ExpectedCalibrationError([.. testL.Select(l => TemperatureScaling.Probabilities(l, 1))], testY);
        var after = Calibration.ExpectedCalibrationError([.. testL.Select(l => TemperatureScaling.Probabilities(l, t))], testY);
        Assert.True(before > 0.1, $"before {before}");
        Assert.True(after < before / 2 && after < 0.03, $"ECE {before} -> {after} at T {t}");
    }
}
