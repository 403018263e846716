using BottleneckPipeline.Confidence;
using BottleneckPipeline.Runtime;
using ScottPlot;

namespace BottleneckPipeline.Reporting;

/// <summary>
/// The reliability diagram: per confidence bin, the accuracy observed against the mean confidence, before
/// and after temperature scaling, over the diagonal a perfectly calibrated model would follow.
/// </summary>
public static class ReliabilityDiagram
{
    public static Plot Build(IReadOnlyList<ReliabilityBin> before, IReadOnlyList<ReliabilityBin> after, double temperature, string split = "test")
    {
        var plot = new Plot();
        var diagonal = plot.Add.Line(0, 0, 1, 1);
        diagonal.Color = Colors.Gray;
        diagonal.LinePattern = LinePattern.Dotted;
        diagonal.LegendText = "perfect calibration";
        Add(plot, before, $"T = 1: ECE {Calibration.ExpectedCalibrationError(before):0.000}", Colors.Orange);
        Add(plot, after, $"T = {temperature:0.00}: ECE {Calibration.ExpectedCalibrationError(after):0.000}", Colors.Blue);
        plot.Axes.SetLimits(0, 1, 0, 1);
        plot.Title($"Reliability on {split} ({before.Sum(b => b.Count)} images, {before.Count} bins)");
        plot.XLabel("mean confidence in bin");
        plot.YLabel("accuracy in bin");
        plot.ShowLegend(Edge.Bottom);
        return plot;
    }

    public static void WritePlot(string path, IReadOnlyList<ReliabilityBin> before, IReadOnlyList<ReliabilityBin> after, double temperature,
        string split = "test", int width = 700, int height = 600) =>
        AtomicFile.WriteAllBytes(path, Build(before, after, temperature, split).GetImageBytes(width, height, ImageFormat.Png));

    /// <summary>The diagram as an inline &lt;svg&gt; for the page.</summary>
    public static string Svg(IReadOnlyList<ReliabilityBin> before, IReadOnlyList<ReliabilityBin> after, double temperature, string split = "test") =>
        InlineSvg.Of(Build(before, after, temperature, split), 560, 480, "reliability diagram: accuracy against confidence, before and after calibration");

    private static void Add(Plot plot, IReadOnlyList<ReliabilityBin> bins, string label, Color color)
    {
        var used = bins.Where(b => b.Count > 0).ToArray();
        var scatter = plot.Add.Scatter(used.Select(b => b.Confidence).ToArray(), used.Select(b => b.Accuracy).ToArray());
        scatter.LegendText = label;
        scatter.Color = color;
        scatter.MarkerSize = 7;
    }
}
