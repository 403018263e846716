using BottleneckPipeline.Head;
using BottleneckPipeline.Runtime;
using ScottPlot;

namespace BottleneckPipeline.Reporting;

/// <summary>Draws the training log as a learning-curve PNG (loss left axis, accuracy right).</summary>
public static class TrainingLogWriter
{
    public static void WritePlot(string path, IReadOnlyList<TrainingLogRow> log, int bestStep, int width = 900, int height = 500,
        string title = "Head training: loss (left) and accuracy (right)")
    {
        var plot = new Plot();
        var steps = log.Select(r => (double)r.Step).ToArray();
        AddSeries(plot, steps, log.Select(r => r.TrainLoss), "train loss", Colors.Blue, LinePattern.Solid, right: false);
        AddSeries(plot, steps, log.Select(r => r.ValidationLoss), "validation loss", Colors.Orange, LinePattern.Solid, right: false);
        AddSeries(plot, steps, log.Select(r => r.TrainAccuracy), "train accuracy", Colors.Blue, LinePattern.Dashed, right: true);
        AddSeries(plot, steps, log.Select(r => r.ValidationAccuracy), "validation accuracy", Colors.Orange, LinePattern.Dashed, right: true);
        var marker = plot.Add.VerticalLine(bestStep);
        marker.LineColor = Colors.Gray;
        marker.LinePattern = LinePattern.Dotted;
        marker.LegendText = $"kept checkpoint (step {bestStep})";
        plot.Title(title);
        plot.XLabel("step");
        plot.Axes.Left.Label.Text = "cross-entropy loss";
        plot.Axes.Right.Label.Text = "accuracy";
        plot.ShowLegend(Edge.Bottom);
        AtomicFile.WriteAllBytes(path, plot.GetImageBytes(width, height, ImageFormat.Png));
    }

    private static void AddSeries(Plot plot, double[] steps, IEnumerable<double> values, string label, Color color, LinePattern pattern, bool right)
    {
        var ys = values.ToArray();
        if (ys.All(double.IsNaN)) return;
        var scatter = plot.Add.Scatter(steps, ys);
        scatter.LegendText = label;
        scatter.Color = color;
        scatter.LinePattern = pattern;
        scatter.MarkerSize = 3;
        if (right) scatter.Axes.YAxis = plot.Axes.Right;
    }
}
