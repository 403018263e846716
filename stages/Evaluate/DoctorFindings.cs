using System.Globalization;
using BottleneckPipeline.Artifacts;
using BottleneckPipeline.Cache;
using BottleneckPipeline.Evaluate.Escaping;
using BottleneckPipeline.Metrics;

namespace BottleneckPipeline.Evaluate;

/// <summary>
/// reports/dataset_issues.json as Evaluate found it: the findings, where the file is, whether it was written for the
/// inputs this evaluation has (the Audit stage's inputs hash), and the content id of each image it names (the page's
/// download writes an id where a path would not read back as itself).
/// </summary>
internal sealed record DoctorSource(DatasetIssues Issues, string Path, bool Current, IReadOnlyDictionary<string, string> ContentIds)
{
    /// <summary>The line of an exclude list naming this image: its path, or its content id where the path would not read back as
    /// itself or holds a character the page shows escaped (a control or bidirectional character).</summary>
    public string ExcludeLine(string relPath)
    {
        if (!ContentIds.TryGetValue(relPath, out var id)) return relPath;
        var line = ExcludeList.LineFor(relPath, id);
        return VisibleText.Of(line) == line ? line : id;
    }
}

/// <summary>evaluation.json's "dataset_issues": what the data doctor found, in counts, and the test images a leak reaches.</summary>
/// <param name="Current">false when the file was written for other inputs (the Audit stage has not run since): its findings may be old.</param>
/// <param name="LeakedTestImages">the test images with a near-copy in the train split, left out of <see cref="EvaluationReport.AccuracyWithoutLeaks"/>.</param>
internal sealed record DatasetIssuesSummary(string Path, bool Current, int SuspectedLabelErrors, int NearDuplicates, int Leaks, int Conflicts, int Outliers,
    string? ClassBalanceWarning, string[] LeakedTestImages)
{
    /// <summary>"5 suspected label errors, 1 leak, 1 conflict", as the Audit stage's closing line counts them.</summary>
    public string Counts() => DatasetIssues.CountsOf(SuspectedLabelErrors, Leaks, Conflicts);
}

/// <summary>What the data doctor's findings add to Evaluate's report: the counts, and the test accuracy without the leaked test images.</summary>
internal static class DoctorFindings
{
    /// <summary>
    /// Fills the report's <see cref="EvaluationReport.DatasetIssues"/> and, when a near-duplicate pair has one image in train and the
    /// other among the scored test images, <see cref="EvaluationReport.AccuracyWithoutLeaks"/>: the same predictions with those test
    /// images left out, the figure a head that never saw a copy of its test images would be judged by.
    /// </summary>
    /// <param name="test">the scored test rows (the report's images), by relative path.</param>
    public static void Apply(EvaluationReport report, DoctorSource source, IReadOnlyList<string> test)
    {
        var issues = source.Issues;
        var scored = new HashSet<string>(test, StringComparer.Ordinal);
        var leaked = source.Current ? issues.LeakedTestImages.Where(scored.Contains).ToArray() : [];
        report.DatasetIssues = new DatasetIssuesSummary(source.Path, source.Current, issues.LabelIssues.Count, issues.NearDuplicates.Count,
            issues.Leaks, issues.Conflicts, issues.Outliers.Count, issues.ClassBalanceWarning, leaked);
        if (leaked.Length == 0) return;
        var wrong = new HashSet<string>(report.Misclassified.Select(m => m.Path), StringComparer.Ordinal);
        var leakedRight = leaked.Count(p => !wrong.Contains(p));
        report.AccuracyWithoutLeaks = Accuracy.Of(report.Accuracy.Correct - leakedRight, report.Accuracy.Images - leaked.Length);
    }

    /// <summary>The closing line's part after the test accuracy: the accuracy without the leaked test images; "" when none.</summary>
    public static string AccuracyPart(EvaluationReport report) =>
        report.AccuracyWithoutLeaks is { } a && report.DatasetIssues is { } d
            ? $"; without the {Images(d.LeakedTestImages.Length, "test image")} leaked from train (a near-copy in the train split): {a}"
            : "";

    /// <summary>The closing line's last part: what the data doctor found, and where; "" when Audit wrote no file.</summary>
    public static string CountsPart(EvaluationReport report) =>
        report.DatasetIssues is { } d
            ? $"; data doctor: {d.Counts()} ({d.Path}{(d.Current ? "" : ", written for other inputs: run make audit")})"
            : "";

    public static string Images(int n, string what) => string.Create(CultureInfo.InvariantCulture, $"{n} {what}{(n == 1 ? "" : "s")}");
}
