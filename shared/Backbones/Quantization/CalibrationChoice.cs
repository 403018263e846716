using System.Globalization;
using BottleneckPipeline.Config;

namespace BottleneckPipeline.Quantization;

/// <summary>How activation ranges are drawn from the calibration statistics: the method, and for
/// percentile the percentile each side is cut at (backbone.calibration, backbone.calibration_percentile).</summary>
internal sealed record CalibrationChoice(CalibrationMethod Method, double Percentile = 100 - 100 * ActivationStatistics.PercentileTail)
{
    public static CalibrationChoice From(BackboneConfig backbone) => new(backbone.Calibration, backbone.CalibrationPercentile);

    /// <summary>Share of values clipped on each side (percentile only).</summary>
    public double Tail => (100 - Percentile) / 100;

    /// <summary>As pipeline.yaml spells it; the percentile only where it matters (so the fingerprint of another method ignores it).</summary>
    public override string ToString() => Method == CalibrationMethod.Percentile
        ? string.Create(CultureInfo.InvariantCulture, $"percentile {Percentile:R}")
        : ConfigLoader.Snake(Method.ToString(), '-');
}
