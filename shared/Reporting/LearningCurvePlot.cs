using System.Globalization;
using System.Text.RegularExpressions;
using BottleneckPipeline.Head;
using BottleneckPipeline.Runtime;
using ScottPlot;

namespace BottleneckPipeline.Reporting;

/// <summary>
/// The learning curve of a training log: loss on the left axis and accuracy on the right by step,
/// train and validation, the kept checkpoint marked. One ScottPlot plot, saved as a PNG beside the
/// log (TrainHead, FineTune) and embedded as SVG in evaluation.html.
/// </summary>
/// <remarks>
/// Every line is solid, told apart by colour (train blue, validation orange), width (loss thicker)
/// and marker (loss circles, accuracy squares): Skia's SVG writer cannot express a dash pattern,
/// so it would cut each dashed line into segments and print a warning on stderr for every one.
/// </remarks>
public static class LearningCurvePlot
{
    public const string HeadTitle = "Head training: loss (left) and accuracy (right)";

    /// <summary>Logs up to this many rows get a marker per point (TrainHead's default, 2000 steps at eval_interval 50, has 40).</summary>
    public const int MaxMarkedPoints = 60;

    private static readonly Color Train = Color.FromHex("#1f6fb2"), Validation = Color.FromHex("#e07b00"), Marker = Color.FromHex("#8a919c");

    /// <summary>The plot of <paramref name="log"/>; a figure never measured (validation without a validation split) is left out.</summary>
    public static Plot Build(IReadOnlyList<TrainingLogRow> log, int bestStep, string? title = HeadTitle)
    {
        var plot = new Plot();
        plot.Font.Set("DejaVu Sans"); // where it is missing, the system's default font
        var marked = log.Count <= MaxMarkedPoints;
        AddSeries(plot, log, r => r.TrainLoss, "train loss", Train, loss: true, marked);
        AddSeries(plot, log, r => r.ValidationLoss, "validation loss", Validation, loss: true, marked);
        AddSeries(plot, log, r => r.TrainAccuracy, "train accuracy", Train, loss: false, marked);
        AddSeries(plot, log, r => r.ValidationAccuracy, "validation accuracy", Validation, loss: false, marked);
        var kept = plot.Add.VerticalLine(bestStep);
        kept.LineColor = Marker;
        kept.LineWidth = 1.5f;
        kept.LegendText = string.Create(CultureInfo.InvariantCulture, $"kept checkpoint (step {bestStep})");
        if (title is not null) plot.Title(title);
        plot.XLabel("step");
        plot.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericAutomatic { IntegerTicksOnly = true };
        plot.Axes.Left.Label.Text = "cross-entropy loss";
        plot.Axes.Right.Label.Text = "accuracy";
        var legend = plot.ShowLegend(Edge.Bottom).Legend; // below the axes: never over a line
        legend.OutlineWidth = 0;
        legend.ShadowColor = Colors.Transparent;
        return plot;
    }

    public static void SavePng(string path, IReadOnlyList<TrainingLogRow> log, int bestStep, int width = 900, int height = 500, string? title = HeadTitle) =>
        AtomicFile.WriteAllBytes(path, Build(log, bestStep, title).GetImageBytes(width, height, ImageFormat.Png));

    /// <summary>
    /// The plot as an &lt;svg&gt; element to put in an HTML page: drawn at <paramref name="width"/> by
    /// <paramref name="height"/>, scaled by the page (a viewBox instead of a fixed size), no XML
    /// declaration or namespaces (HTML gives inline SVG its own).
    /// </summary>
    public static string Svg(IReadOnlyList<TrainingLogRow> log, int bestStep, int width = 640, int height = 360, string? title = null) =>
        InlineSvg.Of(Build(log, bestStep, title), width, height, "learning curve: loss and accuracy by training step");

    /// <summary>
    /// One figure of the log through its measured points (a NaN is a figure not measured at that
    /// step); none at all when it was never measured. Loss on the left axis, thicker, with circles
    /// while <paramref name="marked"/>; accuracy on the right, with squares.
    /// </summary>
    private static void AddSeries(Plot plot, IReadOnlyList<TrainingLogRow> log, Func<TrainingLogRow, double> value, string label, Color color, bool loss,
        bool marked)
    {
        var points = log.Where(r => double.IsFinite(value(r))).ToList();
        if (points.Count == 0) return;
        var scatter = plot.Add.Scatter(points.Select(r => (double)r.Step).ToArray(), points.Select(value).ToArray());
        scatter.LegendText = label;
        scatter.Color = color;
        scatter.LineWidth = loss ? 2 : 1;
        scatter.MarkerShape = !marked ? MarkerShape.None : loss ? MarkerShape.FilledCircle : MarkerShape.OpenSquare;
        scatter.MarkerSize = 5;
        if (!loss) scatter.Axes.YAxis = plot.Axes.Right;
    }
}
