using System.Globalization;
using System.Text;
using BottleneckPipeline.Evaluate.Escaping;
using BottleneckPipeline.Runtime;
using ScottPlot;

namespace BottleneckPipeline.Evaluate;

/// <summary>Writes evaluation.json, evaluation.md, evaluation.html and confusion_matrix.png into the reports folder.</summary>
internal static class EvaluationWriter
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

    /// <summary>
    /// The report as Markdown. Every class and file name is a code span (<see cref="MarkdownText.Name"/>) and every
    /// sentence that may hold one is escaped text (<see cref="MarkdownText.Text"/>): a name makes no HTML, link or cell.
    /// </summary>
    public static string Markdown(EvaluationReport r)
    {
        var sb = new StringBuilder();
        sb.AppendLine($"# Evaluation: {T(r.Scored)}").AppendLine();
        foreach (var warning in r.Warnings) sb.AppendLine($"> **Warning:** {T(warning)}").AppendLine();
        sb.AppendLine($"- Model: **{T(r.Model)}**" + (r.Shipped is { } s ? $", shipped as model.onnx: {T(s.Reason)}" : ""));
        sb.AppendLine($"- Accuracy: **{r.Accuracy}**");
        if (r.AccuracyWithoutLeaks is { } clean && r.DatasetIssues is { } leaks)
            sb.AppendLine($"- Accuracy without the {DoctorFindings.Images(leaks.LeakedTestImages.Length, "test image")} leaked from train " +
                          $"(a near-copy in the train split): **{clean}**");
        sb.AppendLine($"- Top-{r.TopK} accuracy: {r.TopKAccuracy}");
        sb.AppendLine($"- Macro F1: {F(r.MacroF1)}");
        sb.AppendLine($"- Backbone: {T(r.Backbone.Name)} (fingerprint {N(r.Backbone.Fingerprint)})");
        sb.AppendLine($"- Head: {N(r.Head.Path)}, kept at step {r.Head.BestStep}");
        if (r.Export is { } e)
            sb.AppendLine($"- Export: {N(e.Path)} ({T(e.Network)}): {(e.Passed ? "matches" : "DOES NOT match")} the cached path on {e.Images} images " +
                          $"(arg-max agreement {Pct(e.ArgmaxAgreement)}, max |probability difference| {e.MaxAbsProbabilityDifference:0.###e+0})");
        if (r.Temperature is { } t)
            sb.AppendLine(string.Create(CultureInfo.InvariantCulture,
                $"- Calibration: temperature {t:0.###} fitted on the validation split; " +
                $"expected calibration error on test {r.EceBefore:0.000} before, {r.EceAfter:0.000} after") +
                (r.Reliability is { } rel ? string.Create(CultureInfo.InvariantCulture,
                    $" (a perfectly calibrated model would show about {rel.EceSamplingFloor:0.000} on this many images)") : ""));
        if (r.Unknown is { } u)
            sb.AppendLine(string.Create(CultureInfo.InvariantCulture,
                $"- Unknown: {u.Method} score past {u.Threshold:0.####} (keeps {100 * u.KeepShare:0}% of validation photos); " +
                $"{100 * u.FlaggedShareTest:0.0}% of test photos flagged"));
        if (r.UnknownShare is { } share)
            sb.AppendLine(string.Create(CultureInfo.InvariantCulture, $"- Called unknown: {100 * share:0.0}% of the scored images"));
        if (r.Overlap is { } o)
            sb.AppendLine($"- Already in the workspace's index ({N(o.Index)}): {o.Train} train, {o.Validation} validation, {o.Test} test images; " +
                          $"accuracy on the {o.Unseen.Images} others: **{o.Unseen}**");
        if (r.FineTuneNote is { } note) sb.AppendLine($"- Fine-tuned network: {T(note)}");
        if (r.Shipped is { Validation.Length: > 1 } shipped)
        {
            sb.AppendLine().AppendLine("## Which model ships").AppendLine();
            sb.AppendLine($"Rule: {T(shipped.Rule)}.").AppendLine();
            sb.AppendLine("| validation split | accuracy | loss |").AppendLine("|---|---|---:|");
            foreach (var v in shipped.Validation)
                sb.AppendLine($"| {T(v.Model)}{(v.Model == shipped.Model ? " (shipped)" : "")} | {v.Accuracy} | {F(v.Loss)} |");
        }
        if (r.Comparison is { } c) SideBySide(sb, r, c);
        if (r.DatasetIssues is { } d) DatasetIssues(sb, d);
        sb.AppendLine().AppendLine($"## Per class ({T(r.Model)})").AppendLine();
        sb.AppendLine("| class | precision | recall | F1 | support |").AppendLine("|---|---:|---:|---:|---:|");
        foreach (var m in r.PerClass) sb.AppendLine($"| {Cell(m.Label)} | {F(m.Precision)} | {F(m.Recall)} | {F(m.F1)} | {m.Support} |");
        sb.AppendLine().AppendLine("## Confusion matrix (rows: true, columns: predicted)").AppendLine();
        sb.AppendLine("| true \\ predicted | " + string.Join(" | ", r.ConfusionMatrix.Labels.Select(Cell)) + " |");
        sb.AppendLine("|---|" + string.Concat(r.ConfusionMatrix.Labels.Select(_ => "---:|")));
        for (var i = 0; i < r.ConfusionMatrix.Labels.Length; i++)
            sb.AppendLine($"| {Cell(r.ConfusionMatrix.Labels[i])} | " + string.Join(" | ", r.ConfusionMatrix.Rows[i]) + " |");
        sb.AppendLine().AppendLine($"![confusion matrix]({ConfusionPngName})").AppendLine();
        sb.AppendLine($"## Misclassified ({r.Misclassified.Length})").AppendLine();
        sb.AppendLine($"Each with its photo and top-{r.TopK}: [{EvaluationPage.FileName}]({EvaluationPage.FileName}).").AppendLine();
        if (r.Misclassified.Length > 0)
        {
            sb.AppendLine("| image | true | predicted | confidence |").AppendLine("|---|---|---|---:|");
            foreach (var m in r.Misclassified.Take(MarkdownMisclassifiedLimit))
                sb.AppendLine($"| {Cell(m.Path)} | {Cell(m.TrueLabel)} | {Cell(m.PredictedLabel)} | {Pct(m.Confidence)} |");
            if (r.Misclassified.Length > MarkdownMisclassifiedLimit)
                sb.AppendLine().AppendLine($"... and {r.Misclassified.Length - MarkdownMisclassifiedLimit} more in {JsonName}.");
        }
        return sb.ToString();
    }

    /// <summary>The shipped model and the other one on the same images; the sections below are the shipped model's.</summary>
    private static void SideBySide(StringBuilder sb, EvaluationReport shipped, EvaluationReport other)
    {
        sb.AppendLine().AppendLine($"## {T(shipped.Model)} (shipped) and {T(other.Model)}").AppendLine();
        sb.AppendLine($"| {T(shipped.Scored)} | {T(shipped.Model)} (shipped) | {T(other.Model)} |").AppendLine("|---|---|---|");
        sb.AppendLine($"| accuracy | {shipped.Accuracy} | {other.Accuracy} |");
        sb.AppendLine($"| top-{shipped.TopK} accuracy | {shipped.TopKAccuracy.Percent} | {other.TopKAccuracy.Percent} |");
        sb.AppendLine($"| macro F1 | {F(shipped.MacroF1)} | {F(other.MacroF1)} |");
        sb.AppendLine($"| misclassified | {shipped.Misclassified.Length} | {other.Misclassified.Length} |");
        foreach (var c in shipped.PerClass)
            sb.AppendLine($"| F1 {Cell(c.Label)} | {F(c.F1)} | {(other.PerClass.FirstOrDefault(x => x.Label == c.Label) is { } o ? F(o.F1) : "")} |");
        sb.AppendLine().AppendLine($"The sections below are {T(shipped.Model)}'s; {T(other.Model)}'s whole report is in {JsonName} (`comparison`).");
    }

    /// <summary>What the data doctor found, with the path of its file; the photos themselves are on the page.</summary>
    private static void DatasetIssues(StringBuilder sb, DatasetIssuesSummary d)
    {
        sb.AppendLine().AppendLine("## Dataset issues").AppendLine();
        sb.AppendLine($"The data doctor (the Audit stage) found {d.Counts()} among {DoctorFindings.Images(d.NearDuplicates, "near-duplicate pair")}, " +
                      $"and {DoctorFindings.Images(d.Outliers, "outlier")}: {N(d.Path)}. " +
                      $"Each with its photo, and a list to download for `dataset.exclude`: [{EvaluationPage.FileName}]({EvaluationPage.FileName}#issues).");
        if (!d.Current)
            sb.AppendLine().AppendLine("> **Warning:** that file was written for other inputs (the dataset, the backbone, `train_head` or `dataset.exclude` " +
                                       "changed since): run `make audit` for findings about this run.");
        if (d.ClassBalanceWarning is { } warning) sb.AppendLine().AppendLine($"> **Warning:** {T(warning)}");
        if (d.LeakedTestImages.Length > 0)
        {
            sb.AppendLine().AppendLine($"Test images with a near-copy in the train split, left out of the accuracy without leaks:").AppendLine();
            foreach (var path in d.LeakedTestImages.Take(MarkdownMisclassifiedLimit)) sb.AppendLine($"- {N(path)}");
            if (d.LeakedTestImages.Length > MarkdownMisclassifiedLimit)
                sb.AppendLine($"- ... and {d.LeakedTestImages.Length - MarkdownMisclassifiedLimit} more in {JsonName}.");
        }
    }

    /// <summary>Text that may hold a name, escaped.</summary>
    private static string T(string text) => MarkdownText.Text(text);

    /// <summary>A name or path outside a table.</summary>
    private static string N(string name) => MarkdownText.Name(name, inTable: false);

    /// <summary>A name or path in a table cell.</summary>
    private static string Cell(string name) => MarkdownText.Name(name, inTable: true);

    private static string Pct(double v) => double.IsNaN(v) ? "n/a" : (100 * v).ToString("0.0", CultureInfo.InvariantCulture) + "%";
    private static string F(double v) => v.ToString("0.000", CultureInfo.InvariantCulture);
}

/// <summary>The confusion matrix as coloured cells with their counts; colour is the row share.</summary>
internal static class ConfusionMatrixPlot
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
