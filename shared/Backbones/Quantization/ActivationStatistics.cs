using BottleneckPipeline.Config;

namespace BottleneckPipeline.Quantization;

/// <summary>
/// What calibration learns about one activation tensor: its min and max over every calibration
/// image (first pass), then a histogram of its values over [-A, A], A = max(|min|, |max|) (second
/// pass). The three calibration methods each turn these into the range [Low, High] that int8 covers.
/// </summary>
public sealed class ActivationStatistics
{
    /// <summary>Bins on each side of zero; 2048 is the usual resolution for entropy calibration.</summary>
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
    /// <param name="levels">Quantization steps across a range that holds only values &gt;= 0 (255 for 8 bits);
    /// a signed range is treated as symmetric and gets half of them on each side.</param>
    /// <param name="percentileTail">Share of values percentile calibration clips on each side.</param>
    public (float Low, float High) Range(CalibrationMethod method, int levels = 255, double percentileTail = PercentileTail)
    {
        if (float.IsInfinity(Min)) return (0, 0);
        var (low, high) = method switch
        {
            CalibrationMethod.MinMax => (Min, Max),
            CalibrationMethod.Percentile => Percentile(percentileTail),
            CalibrationMethod.Entropy => Entropy(levels),
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

    /// <summary>
    /// The clipping threshold whose quantized distribution is closest (least KL divergence) to the
    /// observed one. A tensor with no negative values uses its [0, A] half with every level; a signed
    /// one uses |x| with half the levels, and the threshold applies to both sides.
    /// </summary>
    private (float, float) Entropy(int levels)
    {
        var h = Histogram;
        if (Extent <= 0) return (Min, Max);
        var signed = Min < 0;
        var magnitude = new long[HalfBins];
        for (var k = 0; k < HalfBins; k++) magnitude[k] = h[HalfBins + k] + (signed ? h[HalfBins - 1 - k] : 0);
        var targetLevels = signed ? (levels + 1) / 2 : levels;
        var bins = KlThresholdBins(magnitude, targetLevels);
        var threshold = bins * BinWidth;
        return signed ? (Math.Max(-threshold, Min), Math.Min(threshold, Max)) : (Min, Math.Min(threshold, Max));
    }

    /// <summary>How many leading bins to keep: the candidate i (levels..n) minimising KL(P || Q), where P is
    /// the first i bins with everything beyond folded into the last, and Q is P squeezed into
    /// <paramref name="levels"/> equal groups, each group's mass spread over its non-empty bins.</summary>
    internal static int KlThresholdBins(long[] histogram, int levels)
    {
        var n = histogram.Length;
        if (n <= levels) return n;
        var best = n;
        var bestDivergence = double.PositiveInfinity;
        var p = new double[n];
        var q = new double[n];
        var tail = 0.0;
        for (var k = levels; k < n; k++) tail += histogram[k];
        for (var i = levels; i <= n; i++)
        {
            if (i > levels) tail -= histogram[i - 1];
            for (var k = 0; k < i; k++) p[k] = histogram[k];
            p[i - 1] += tail;
            if (p.AsSpan(0, i).IndexOfAnyExcept(0.0) < 0) continue;
            // Q: each of `levels` groups of bins keeps its total mass, spread evenly over its non-empty bins.
            for (var g = 0; g < levels; g++)
            {
                var start = (int)((long)g * i / levels);
                var end = (int)((long)(g + 1) * i / levels);
                double mass = 0;
                var nonEmpty = 0;
                for (var k = start; k < end; k++)
                {
                    mass += histogram[k];
                    if (histogram[k] != 0) nonEmpty++;
                }
                for (var k = start; k < end; k++) q[k] = histogram[k] != 0 ? mass / nonEmpty : 0;
            }
            var divergence = Divergence(p.AsSpan(0, i), q.AsSpan(0, i));
            if (divergence < bestDivergence)
            {
                bestDivergence = divergence;
                best = i;
            }
        }
        return best;
    }

    private static double Divergence(ReadOnlySpan<double> p, ReadOnlySpan<double> q)
    {
        double sumP = 0, sumQ = 0;
        foreach (var v in p) sumP += v;
        foreach (var v in q) sumQ += v;
        if (sumQ == 0) return double.PositiveInfinity;
        double kl = 0;
        for (var k = 0; k < p.Length; k++)
        {
            if (p[k] == 0) continue;
            var pk = p[k] / sumP;
            // A bin P has and Q lost (the folded tail beyond the last group): a small floor instead of infinity.
            var qk = q[k] == 0 ? 1e-12 : q[k] / sumQ;
            kl += pk * Math.Log(pk / qk);
        }
        return kl;
    }
}
