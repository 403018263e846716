using BottleneckPipeline.Config;

namespace BottleneckPipeline.Quantization;

/// <summary>
/// What calibration learns about one activation tensor: its min and max over every calibration
/// image (first pass), then a histogram of its values over [-A, A], A = max(|min|, |max|) (second
/// pass). Each calibration method turns these into the range [Low, High] that int8 covers.
/// </summary>
internal sealed class ActivationStatistics
{
    /// <summary>Bins on each side of zero: the resolution of percentile calibration's cut.</summary>
    public const int HalfBins = 2048;

    /// <summary>Share of values percentile calibration clips on each side by default (backbone.calibration_percentile 99.999).</summary>
    public const double PercentileTail = 1e-5;

    public float Min { get; private set; } = float.PositiveInfinity;
    public float Max { get; private set; } = float.NegativeInfinity;
    private long[]? _histogram;

    private float Extent => Math.Max(Math.Abs(Min), Math.Abs(Max));

    public void AddToRange(ReadOnlySpan<float> values)
    {
        if (values.IsEmpty) return;
        var (min, max) = (System.Numerics.Tensors.TensorPrimitives.Min(values), System.Numerics.Tensors.TensorPrimitives.Max(values));
        if (min < Min) Min = min;
        if (max > Max) Max = max;
    }

    /// <summary>Second pass: call only after every AddToRange.</summary>
    public void AddToHistogram(ReadOnlySpan<float> values)
    {
        _histogram ??= new long[2 * HalfBins];
        var extent = Extent;
        if (extent <= 0) { _histogram[HalfBins] += values.Length; return; }
        var perUnit = HalfBins / extent;
        foreach (var v in values)
        {
            var bin = (int)Math.Floor(v * perUnit) + HalfBins;
            _histogram[Math.Clamp(bin, 0, 2 * HalfBins - 1)]++;
        }
    }

    public static bool NeedsHistogram(CalibrationMethod method) => method != CalibrationMethod.MinMax;

    /// <summary>The range to quantize, always holding 0 (so zero padding is exact).</summary>
    /// <param name="percentileTail">Share of values percentile calibration clips on each side.</param>
    public (float Low, float High) Range(CalibrationMethod method, double percentileTail = PercentileTail)
    {
        if (float.IsInfinity(Min)) return (0, 0);
        var (low, high) = method switch
        {
            CalibrationMethod.MinMax => (Min, Max),
            CalibrationMethod.Percentile => Percentile(percentileTail),
            _ => throw new ArgumentOutOfRangeException(nameof(method)),
        };
        return (Math.Min(low, 0f), Math.Max(high, 0f));
    }

    private long[] Histogram => _histogram ?? throw new InvalidOperationException("the histogram pass was not run");

    private float BinWidth => Extent / HalfBins;

    private (float, float) Percentile(double tail)
    {
        var h = Histogram;
        var total = h.Sum();
        if (total == 0 || Extent <= 0) return (Min, Max);
        var cut = (long)Math.Floor(total * tail);
        int lowBin = 0, highBin = h.Length - 1;
        for (long seen = 0; lowBin < h.Length - 1 && seen + h[lowBin] <= cut; lowBin++) seen += h[lowBin];
        for (long seen = 0; highBin > 0 && seen + h[highBin] <= cut; highBin--) seen += h[highBin];
        var low = (lowBin - HalfBins) * BinWidth;
        var high = (highBin + 1 - HalfBins) * BinWidth;
        return (Math.Max(low, Min), Math.Min(high, Max));
    }
}
