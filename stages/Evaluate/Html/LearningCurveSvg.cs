using System.Globalization;
using System.Text;
using BottleneckPipeline.Head;

namespace BottleneckPipeline.Evaluate.Html;

/// <summary>
/// The training log drawn as inline SVG (loss on the left axis, accuracy on the right, the kept
/// checkpoint marked), with an HTML legend that wraps in a narrow window. Vector, so it stays sharp
/// at any width, and a few kB, so it needs no file of its own.
/// </summary>
public static class LearningCurveSvg
{
    private const double Width = 640, Height = 280, Left = 52, Right = 52, Top = 12, Bottom = 34;
    private const string TrainColour = "#1f6fb2", ValidationColour = "#e07b00", MarkerColour = "#8a919c";

    public static string Draw(IReadOnlyList<TrainingLogRow> log, int bestStep)
    {
        var maxStep = NiceCeiling(Math.Max(1, Math.Max(bestStep, log.Count == 0 ? 0 : log.Max(r => r.Step))));
        var losses = log.SelectMany(r => new[] { r.TrainLoss, r.ValidationLoss }).Where(double.IsFinite).ToList();
        var maxLoss = NiceCeiling(losses.Count == 0 ? 1 : losses.Max());
        double X(double step) => Left + step / maxStep * (Width - Left - Right);
        double YLoss(double loss) => Top + (1 - loss / maxLoss) * (Height - Top - Bottom);
        double YAccuracy(double accuracy) => Top + (1 - accuracy) * (Height - Top - Bottom);

        var svg = new StringBuilder();
        svg.Append(Fmt($"<svg viewBox=\"0 0 {Width} {Height}\" role=\"img\" aria-label=\"learning curve: loss and accuracy by training step\" font-size=\"11\" fill=\"#5b6473\">"));
        for (var i = 0; i <= 4; i++)
        {
            var y = Top + i / 4.0 * (Height - Top - Bottom);
            svg.Append(Fmt($"<line x1=\"{Left}\" x2=\"{Width - Right}\" y1=\"{y:0.#}\" y2=\"{y:0.#}\" stroke=\"#e3e7ee\"/>"));
            svg.Append(Fmt($"<text x=\"{Left - 6}\" y=\"{y + 4:0.#}\" text-anchor=\"end\">{maxLoss * (1 - i / 4.0):0.###}</text>"));
            svg.Append(Fmt($"<text x=\"{Width - Right + 6}\" y=\"{y + 4:0.#}\">{100 * (1 - i / 4.0):0}%</text>"));
        }
        for (var i = 0; i <= 4; i++)
        {
            var step = maxStep * i / 4.0;
            svg.Append(Fmt($"<text x=\"{X(step):0.#}\" y=\"{Height - Bottom + 15}\" text-anchor=\"middle\">{step:0.#}</text>"));
        }
        svg.Append(Fmt($"<text x=\"{(Left + Width - Right) / 2}\" y=\"{Height - 4}\" text-anchor=\"middle\">step</text>"));
        svg.Append(Fmt($"<line x1=\"{X(bestStep):0.#}\" x2=\"{X(bestStep):0.#}\" y1=\"{Top}\" y2=\"{Height - Bottom}\" stroke=\"{MarkerColour}\" stroke-dasharray=\"2 3\"/>"));
        Line(svg, log, r => r.TrainLoss, X, YLoss, TrainColour, dashed: false);
        Line(svg, log, r => r.ValidationLoss, X, YLoss, ValidationColour, dashed: false);
        Line(svg, log, r => r.TrainAccuracy, X, YAccuracy, TrainColour, dashed: true);
        Line(svg, log, r => r.ValidationAccuracy, X, YAccuracy, ValidationColour, dashed: true);
        svg.Append("</svg>");

        var legend = new StringBuilder("<div class=\"legend\">");
        Key(legend, TrainColour, "", "train loss");
        if (log.Any(r => double.IsFinite(r.ValidationLoss))) Key(legend, ValidationColour, "", "validation loss");
        Key(legend, TrainColour, " dashed", "train accuracy (right axis)");
        if (log.Any(r => double.IsFinite(r.ValidationAccuracy))) Key(legend, ValidationColour, " dashed", "validation accuracy (right axis)");
        Key(legend, MarkerColour, " dotted", Fmt($"kept checkpoint, step {bestStep}"));
        legend.Append("</div>");
        return "<figure class=\"curve\">" + svg + legend + "</figure>";
    }

    /// <summary>A polyline through the finite points; a figure that was never measured (NaN) draws nothing.</summary>
    private static void Line(StringBuilder svg, IReadOnlyList<TrainingLogRow> log, Func<TrainingLogRow, double> value,
        Func<double, double> x, Func<double, double> y, string colour, bool dashed)
    {
        var points = log.Where(r => double.IsFinite(value(r))).Select(r => Fmt($"{x(r.Step):0.#},{y(value(r)):0.#}")).ToList();
        if (points.Count == 0) return;
        svg.Append(Fmt($"<polyline fill=\"none\" stroke=\"{colour}\" stroke-width=\"1.6\"{(dashed ? " stroke-dasharray=\"5 3\"" : "")} points=\"{string.Join(' ', points)}\"/>"));
    }

    private static void Key(StringBuilder legend, string colour, string style, string text) =>
        legend.Append(Fmt($"<span><span class=\"key{style}\" style=\"border-color:{colour}\"></span>{text}</span>"));

    /// <summary>The smallest of 1, 2, 2.5, 5 times a power of ten that is at least v, so the axis reads in round numbers.</summary>
    internal static double NiceCeiling(double v)
    {
        if (!(v > 0)) return 1;
        var power = Math.Pow(10, Math.Floor(Math.Log10(v)));
        foreach (var m in new[] { 1, 2, 2.5, 5, 10 })
            if (m * power >= v * (1 - 1e-12)) return m * power;
        return 10 * power;
    }

    private static string Fmt(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);
}
