namespace BottleneckPipeline.Confidence;

/// <summary>One bin of a reliability diagram: the predictions whose top probability fell in (Lower, Upper].</summary>
/// <param name="Accuracy">share of the bin's predictions that were right (NaN when empty).</param>
/// <param name="Confidence">mean top probability in the bin (NaN when empty).</param>
public sealed record ReliabilityBin(double Lower, double Upper, int Count, double Accuracy, double Confidence)
{
    /// <summary>|accuracy - confidence|, the bin's calibration gap (0 when empty).</summary>
    public double Gap => Count == 0 ? 0 : Math.Abs(Accuracy - Confidence);
}

/// <summary>
/// How far predicted probabilities are from observed accuracy: the reliability diagram's bins and the
/// expected calibration error (ECE; Naeini et al. 2015, Guo et al. 2017): the top probability of each
/// prediction is binned into equal-width bins on [0, 1]; ECE = sum over bins of (bin count / n) x
/// |accuracy - mean confidence|.
/// </summary>
public static class Calibration
{
    /// <summary>The bin count the issue and Guo et al. use.</summary>
    public const int DefaultBins = 15;

    /// <summary>The reliability bins of these predictions (the top probability, its label vs the true label).</summary>
    public static ReliabilityBin[] Reliability(IReadOnlyList<float[]> probabilities, IReadOnlyList<int> labels, int bins = DefaultBins)
    {
        if (probabilities.Count != labels.Count) throw new ArgumentException($"{probabilities.Count} probability rows but {labels.Count} labels");
        var confidences = new double[probabilities.Count];
        var correct = new bool[probabilities.Count];
        for (var i = 0; i < probabilities.Count; i++)
        {
            var p = probabilities[i];
            var best = 0;
            for (var k = 1; k < p.Length; k++)
                if (p[k] > p[best]) best = k;
            confidences[i] = p[best];
            correct[i] = best == labels[i];
        }
        return Reliability(confidences, correct, bins);
    }

    /// <summary>The reliability bins of top probabilities and whether each prediction was right.</summary>
    public static ReliabilityBin[] Reliability(IReadOnlyList<double> confidences, IReadOnlyList<bool> correct, int bins = DefaultBins)
    {
        if (bins < 1) throw new ArgumentOutOfRangeException(nameof(bins), bins, "at least one bin");
        var count = new int[bins];
        var right = new int[bins];
        var conf = new double[bins];
        for (var i = 0; i < confidences.Count; i++)
        {
            // (lo, hi]: a confidence of exactly k/bins falls in bin k-1; 0 falls in bin 0.
            var b = Math.Clamp((int)Math.Ceiling(confidences[i] * bins) - 1, 0, bins - 1);
            count[b]++;
            conf[b] += confidences[i];
            if (correct[i]) right[b]++;
        }
        return [.. Enumerable.Range(0, bins).Select(b => new ReliabilityBin((double)b / bins, (double)(b + 1) / bins, count[b],
            count[b] == 0 ? double.NaN : (double)right[b] / count[b], count[b] == 0 ? double.NaN : conf[b] / count[b]))];
    }

    /// <summary>ECE of a set of reliability bins.</summary>
    public static double ExpectedCalibrationError(IReadOnlyList<ReliabilityBin> bins)
    {
        var n = bins.Sum(b => b.Count);
        return n == 0 ? 0 : bins.Sum(b => (double)b.Count / n * b.Gap);
    }

    /// <summary>ECE of these predictions with <paramref name="bins"/> equal-width bins.</summary>
    public static double ExpectedCalibrationError(IReadOnlyList<float[]> probabilities, IReadOnlyList<int> labels, int bins = DefaultBins) =>
        ExpectedCalibrationError(Reliability(probabilities, labels, bins));

    /// <summary>
    /// The ECE a perfectly calibrated model would still show on a set this size, on average: labels drawn
    /// at random with each prediction's own confidence as the chance of being right (seeded). Small test
    /// splits have a floor well above 0; an ECE near it is as calibrated as the split can tell.
    /// </summary>
    public static double SamplingFloor(IReadOnlyList<double> confidences, int bins = DefaultBins, int draws = 200, int seed = 1)
    {
        if (confidences.Count == 0) return 0;
        var rng = new Random(seed);
        var correct = new bool[confidences.Count];
        var sum = 0.0;
        for (var d = 0; d < draws; d++)
        {
            for (var i = 0; i < correct.Length; i++) correct[i] = rng.NextDouble() < confidences[i];
            sum += ExpectedCalibrationError(Reliability(confidences, correct, bins));
        }
        return sum / draws;
    }
}
