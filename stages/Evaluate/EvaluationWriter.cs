using System.Globalization;
using System.Text;
using BottleneckPipeline.Runtime;
using ScottPlot;

namespace BottleneckPipeline.Evaluate;

/// <summary>Writes evaluation.json, evaluation.md, evaluation.html and confusion_matrix.png into the reports folder.</summary>
public static class EvaluationWriter
{
    public const string JsonName = "evaluation.json";
    public const string MarkdownName = "evaluation.md";
    public const string ConfusionPngName = "confusion_matrix.png";

    /// <summary>How many misclassified images the markdown lists (the JSON lists all).</summary>
    public const int MarkdownMisclassifiedLimit = 25;

    public static void Write(string reportsDir, EvaluationReport report, PageSources page)
    {
        Directory.CreateDirectory(reportsDir);
        ConfusionMatrixPlot.Write(Path.Combine(reportsDir, ConfusionPngName), report.ConfusionMatrix);
        AtomicFile.WriteAllText(Path.Combine(reportsDir, MarkdownName), Markdown(report));
        EvaluationPage.Write(Path.Combine(reportsDir, EvaluationPage.FileName), report, page);
        // Last: its presence (with a matching inputs hash) means the whole report is there.
        AtomicFile.WriteAllText(Path.Combine(reportsDir, JsonName), report.ToJson());
    }

    public static string Markdown(EvaluationReport r)
    {
        var sb = new StringBuilder();
        sb.AppendLine("# Evaluation").AppendLine();
        sb.AppendLine($"- Test accuracy: **{Pct(r.TestAccuracy)}** on {r.TestImages} images");
        sb.AppendLine($"- Top-{r.TopK} accuracy: {Pct(r.TopKAccuracy)}");
        sb.AppendLine($"- Macro F1: {F(r.MacroF1)}");
        sb.AppendLine($"- Backbone: {r.Backbone.Name} (fingerprint `{r.Backbone.Fingerprint}`)");
        sb.AppendLine($"- Head: `{r.Head.Path}`, best step {r.Head.BestStep}, validation accuracy {Pct(r.Head.ValidationAccuracy)}");
        if (r.Export is { } e)
            sb.AppendLine($"- Export: `{e.Path}` ({e.Network}): {(e.Passed ? "matches" : "DOES NOT match")} the cached path on {e.Images} images " +
                          $"(arg-max agreement {Pct(e.ArgmaxAgreement)}, max |probability difference| {e.MaxAbsProbabilityDifference:0.###e+0})");
        if (r.FineTuneNote is { } note) sb.AppendLine($"- Fine-tuned model: {note}");
        if (r.FineTuned is { } f) SideBySide(sb, r, f);
        sb.AppendLine().AppendLine("## Per class").AppendLine();
        sb.AppendLine("| class | precision | recall | F1 | support |").AppendLine("|---|---:|---:|---:|---:|");
        foreach (var c in r.PerClass) sb.AppendLine($"| {c.Label} | {F(c.Precision)} | {F(c.Recall)} | {F(c.F1)} | {c.Support} |");
        sb.AppendLine().AppendLine("## Confusion matrix (rows: true, columns: predicted)").AppendLine();
        sb.AppendLine("| true \\ predicted | " + string.Join(" | ", r.ConfusionMatrix.Labels) + " |");
        sb.AppendLine("|---|" + string.Concat(r.ConfusionMatrix.Labels.Select(_ => "---:|")));
        for (var i = 0; i < r.ConfusionMatrix.Labels.Length; i++)
            sb.AppendLine($"| {r.ConfusionMatrix.Labels[i]} | " + string.Join(" | ", r.ConfusionMatrix.Rows[i]) + " |");
        sb.AppendLine().AppendLine($"![confusion matrix]({ConfusionPngName})").AppendLine();
        sb.AppendLine($"## Misclassified ({r.Misclassified.Length})").AppendLine();
        sb.AppendLine($"Each with its photo and top-{r.TopK}: [{EvaluationPage.FileName}]({EvaluationPage.FileName}).").AppendLine();
        if (r.Misclassified.Length > 0)
        {
            sb.AppendLine("| image | true | predicted | confidence |").AppendLine("|---|---|---|---:|");
            foreach (var m in r.Misclassified.Take(MarkdownMisclassifiedLimit))
                sb.AppendLine($"| {m.Path} | {m.TrueLabel} | {m.PredictedLabel} | {Pct(m.Confidence)} |");
            if (r.Misclassified.Length > MarkdownMisclassifiedLimit)
                sb.AppendLine().AppendLine($"... and {r.Misclassified.Length - MarkdownMisclassifiedLimit} more in {JsonName}.");
        }
        return sb.ToString();
    }

    /// <summary>Head only and the fine-tuned model on the same test images; the rest of the report is the head alone's.</summary>
    private static void SideBySide(StringBuilder sb, EvaluationReport head, FineTunedReport fineTuned)
    {
        var f = fineTuned.Report;
        sb.AppendLine().AppendLine("## Head only and fine-tuned").AppendLine();
        sb.AppendLine($"| | head only | {fineTuned.Name} |").AppendLine("|---|---:|---:|");
        sb.AppendLine($"| test accuracy | {Pct(head.TestAccuracy)} | {Pct(f.TestAccuracy)} |");
        sb.AppendLine($"| top-{head.TopK} accuracy | {Pct(head.TopKAccuracy)} | {Pct(f.TopKAccuracy)} |");
        sb.AppendLine($"| macro F1 | {F(head.MacroF1)} | {F(f.MacroF1)} |");
        sb.AppendLine($"| misclassified | {head.Misclassified.Length} | {f.Misclassified.Length} |");
        sb.AppendLine($"| validation accuracy (training) | {Pct(head.Head.ValidationAccuracy)} | {Pct(fineTuned.ValidationAccuracy)} |");
        foreach (var c in head.PerClass)
            sb.AppendLine($"| F1 {c.Label} | {F(c.F1)} | {(f.PerClass.FirstOrDefault(x => x.Label == c.Label) is { } o ? F(o.F1) : "")} |");
        sb.AppendLine().AppendLine($"Fine-tuned: trainable {fineTuned.Trainable}, {fineTuned.EpochsRun} epochs, backbone fingerprint `{fineTuned.BackboneFingerprint}`, " +
                                   $"from `{fineTuned.Manifest}`. The sections below are the head alone's; the fine-tuned model's are in {JsonName} (`fine_tuned`).");
    }

    private static string Pct(double v) => double.IsNaN(v) ? "n/a" : (100 * v).ToString("0.0", CultureInfo.InvariantCulture) + "%";
    private static string F(double v) => v.ToString("0.000", CultureInfo.InvariantCulture);
}

/// <summary>The confusion matrix as coloured cells with their counts; colour is the row share.</summary>
public static class ConfusionMatrixPlot
{
    public static void Write(string path, ConfusionMatrixReport matrix)
    {
        var n = matrix.Labels.Length;
        var plot = new Plot();
        var colormap = new ScottPlot.Colormaps.Blues();
        for (var t = 0; t < n; t++)
        {
            var rowTotal = Math.Max(1, matrix.Rows[t].Sum());
            for (var p = 0; p < n; p++)
            {
                var share = (double)matrix.Rows[t][p] / rowTotal;
                // True class t is drawn at row n-1-t so the first class is on top, as in the table.
                var y = n - 1 - t;
                var cell = plot.Add.Rectangle(p - 0.5, p + 0.5, y - 0.5, y + 0.5);
                cell.FillStyle.Color = colormap.GetColor(1 - share); // ScottPlot's Blues runs dark to light
                cell.LineStyle.Color = Colors.White;
                var text = plot.Add.Text(matrix.Rows[t][p].ToString(CultureInfo.InvariantCulture), p, y);
                text.LabelAlignment = Alignment.MiddleCenter;
                text.LabelFontSize = 16;
                text.LabelFontColor = share > 0.5 ? Colors.White : Colors.Black;
            }
        }
        var ticks = Enumerable.Range(0, n).Select(i => (double)i).ToArray();
        plot.Axes.Bottom.SetTicks(ticks, matrix.Labels);
        plot.Axes.Left.SetTicks(ticks.Select(v => n - 1 - v).ToArray(), matrix.Labels);
        plot.Axes.SetLimits(-0.5, n - 0.5, -0.5, n - 0.5);
        plot.XLabel("predicted");
        plot.YLabel("true");
        plot.Title("Confusion matrix (test split)");
        var size = 200 + 90 * n;
        AtomicFile.WriteAllBytes(path, plot.GetImageBytes(size + 100, size, ImageFormat.Png));
    }
}
