using System.Globalization;

namespace BottleneckPipeline.Metrics;

/// <summary>
/// An accuracy measured on a finite set of images, with its count and its 95% Wilson score interval,
/// so that 100% on 3 images reads as what it is: somewhere between 44% and 100%. Wilson's interval
/// stays inside [0, 1] and keeps its coverage at small counts and at 0% or 100%, where the normal
/// approximation collapses to a point.
/// </summary>
public sealed record Accuracy(int Correct, int Images)
{
    /// <summary>The normal quantile of a two-sided 95% interval.</summary>
    private const double Z = 1.959963984540054;

    public double Value => Images == 0 ? double.NaN : (double)Correct / Images;

    /// <summary>Lower bound of the 95% Wilson interval.</summary>
    public double Ci95Low => Bounds().Low;

    /// <summary>Upper bound of the 95% Wilson interval.</summary>
    public double Ci95High => Bounds().High;

    public static Accuracy Of(int correct, int images)
    {
        if (images < 0 || correct < 0 || correct > images) throw new ArgumentOutOfRangeException(nameof(correct), $"{correct} of {images}");
        return new(correct, images);
    }

    private (double Low, double High) Bounds()
    {
        if (Images == 0) return (0, 1);
        var n = (double)Images;
        var p = Correct / n;
        var z2 = Z * Z;
        var centre = (p + z2 / (2 * n)) / (1 + z2 / n);
        var half = Z * Math.Sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n);
        // At 0 and all correct one bound is exactly 0 or 1; rounding must not move it off.
        return (Correct == 0 ? 0 : Math.Max(0, centre - half), Correct == Images ? 1 : Math.Min(1, centre + half));
    }

    /// <summary>"92.6% (138 of 149; 95% CI 87.3-95.9%)", as the console and the reports print it.</summary>
    public override string ToString() => Images == 0
        ? "n/a (no images)"
        : string.Create(CultureInfo.InvariantCulture, $"{100 * Value:0.0}% ({Correct} of {Images}; 95% CI {100 * Ci95Low:0.0}-{100 * Ci95High:0.0}%)");

    /// <summary>The share alone, "92.6%", for tables that show the count and interval beside it.</summary>
    public string Percent => Images == 0 ? "n/a" : string.Create(CultureInfo.InvariantCulture, $"{100 * Value:0.0}%");

    /// <summary>"95% CI 87.3-95.9%".</summary>
    public string Interval => string.Create(CultureInfo.InvariantCulture, $"95% CI {100 * Ci95Low:0.0}-{100 * Ci95High:0.0}%");
}
