using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;
using BottleneckPipeline.Evaluate.Escaping;
using BottleneckPipeline.Evaluate.Html;
using BottleneckPipeline.Head;
using BottleneckPipeline.Metrics;
using BottleneckPipeline.Reporting;
using BottleneckPipeline.Runtime;

namespace BottleneckPipeline.Evaluate;

/// <summary>
/// evaluation.html: the report as one self-contained page a person looks at. The figures, the
/// confusion matrix (a click on a count filters the gallery to that pair), every misclassified
/// image as an embedded thumbnail with its top-k, the learning curve, and the run's provenance.
/// Filled into the one template, Html/EvaluationPage.html. Every class and file name, path and model
/// name stands in its own &lt;bdi&gt; with its control and bidirectional characters shown (<see cref="HtmlText"/>).
/// </summary>
internal static class EvaluationPage
{
    public const string FileName = "evaluation.html";

    /// <summary>In every page's head: how a rerun tells its own page from a user's file of the same name.</summary>
    public const string GeneratorMark = "<meta name=\"generator\" content=\"BottleneckPipeline Evaluate\">";

    private static readonly Lazy<string> Template = new(() => HtmlTemplate.Load("EvaluationPage.html"));

    /// <summary>
    /// The Content-Security-Policy source that allows the template's one inline script and nothing else:
    /// 'sha256-' and the base64 SHA-256 of its text. The script is a constant (no slot may be in it), so a
    /// name that slipped into the page as markup could not run, nor could an event handler.
    /// </summary>
    public static string ScriptHash => ScriptHashOf.Value;

    private static readonly Lazy<string> ScriptHashOf = new(() =>
    {
        var scripts = Regex.Matches(Template.Value, "<script>(.*?)</script>", RegexOptions.Singleline);
        if (scripts.Count != 1 || scripts[0].Groups[1].Value.Contains("{{", StringComparison.Ordinal) || Template.Value.Split("<script").Length != 2)
            throw new InvalidOperationException(
                "EvaluationPage.html must hold one inline <script>, with no slot in it: the page's policy allows it by its hash");
        var hash = SHA256.HashData(Encoding.UTF8.GetBytes(scripts[0].Groups[1].Value));
        return $"'sha256-{Convert.ToBase64String(hash)}'";
    });

    /// <summary>The page beside a report JSON: scored.json gives scored.html.</summary>
    public static string PathBeside(string jsonPath) => Path.ChangeExtension(jsonPath, ".html");

    /// <summary>Refuses to replace a file that Evaluate did not write, before any work is done.</summary>
    public static void EnsureOursOrAbsent(string path)
    {
        if (!File.Exists(path)) return;
        var head = new char[4096];
        int read;
        using (var reader = new StreamReader(path)) read = reader.ReadBlock(head);
        if (!new string(head, 0, read).Contains(GeneratorMark, StringComparison.Ordinal))
            throw new InputException($"{path} exists and was not written by Evaluate, which writes its page there (beside the JSON). " +
                                     "Move that file, or choose another --out.");
    }

    public static void Write(string path, EvaluationReport report, PageSources sources) =>
        AtomicFile.WriteAllText(path, Render(report, sources));

    public static string Render(EvaluationReport report, PageSources sources)
    {
        var compared = sources.Compared;
        return HtmlTemplate.Fill(Template.Value, new Dictionary<string, string>
        {
            ["script_hash"] = ScriptHash,
            ["title"] = H($"Evaluation: {sources.Title}"),
            ["heading"] = "Evaluation: " + N(sources.Title),
            ["headline"] = Headline(report),
            ["per_class"] = PerClass(report),
            ["confusion"] = Confusion(report.ConfusionMatrix),
            ["misclassified_count"] = report.Misclassified.Length.ToString(CultureInfo.InvariantCulture),
            ["gallery"] = Gallery(report, sources),
            ["dataset_issues"] = DatasetIssuesSection(report, sources),
            ["curves_title"] = compared is null ? "Learning curve" : $"{N(report.Model)} (shipped) against {N(compared.Name)}",
            ["curves"] = compared is null ? Curve(sources.LearningCurve, sources.LearningCurvePath) : SideBySide(report, sources, compared),
            ["provenance"] = Provenance(report, sources.Provenance),
        });
    }

    /// <summary>The shipped model's figures, each accuracy with its count and interval; the choice and any warning.</summary>
    private static string Headline(EvaluationReport r)
    {
        var sb = new StringBuilder();
        foreach (var warning in r.Warnings) sb.Append("<p class=\"warning\" role=\"alert\"><b>Warning:</b> ").Append(H(warning)).Append("</p>");
        sb.Append("<ul class=\"figures\">");
        sb.Append(Fmt($"<li><b>{r.Accuracy.Percent}</b>accuracy ({r.Accuracy.Correct} of {r.Accuracy.Images}; {r.Accuracy.Interval})</li>"));
        if (r.AccuracyWithoutLeaks is { } clean && r.DatasetIssues is { } d)
            sb.Append(Fmt($"<li><b>{clean.Percent}</b>accuracy without the {DoctorFindings.Images(d.LeakedTestImages.Length, "test photo")} "))
              .Append(Fmt($"leaked from train ({clean.Correct} of {clean.Images}; {clean.Interval}; <a href=\"#issues\">dataset issues</a>)</li>"));
        sb.Append(Fmt($"<li><b>{r.TopKAccuracy.Percent}</b>top-{r.TopK} accuracy ({r.TopKAccuracy.Interval})</li>"));
        sb.Append(Fmt($"<li><b>{r.MacroF1:0.000}</b>macro F1</li>"));
        sb.Append(Fmt($"<li><b>{r.Misclassified.Length}</b>misclassified</li>"));
        if (r.Export is { } e)
            sb.Append(e.Passed ? "<li><b>agrees</b>exported model.onnx</li>" : "<li><b class=\"bad\">DISAGREES</b>exported model.onnx</li>");
        sb.Append("</ul>");
        sb.Append("<p class=\"note\">The figures, the tables and the mistakes on this page are <b>").Append(N(r.Model)).Append("</b>'s");
        if (r.Shipped is { } s) sb.Append(", the model shipped as model.onnx: ").Append(H(s.Reason)).Append(". The rule: ").Append(H(s.Rule)).Append('.');
        else sb.Append('.');
        sb.Append(Fmt($" Backbone {N(r.Backbone.Name)}."));
        if (r.Export is { } x)
            sb.Append(Fmt($" The exported model gives the same class on {Pct(x.ArgmaxAgreement)} of {x.Images} images, "))
              .Append(Fmt($"probabilities within {x.MaxAbsProbabilityDifference:0.#e+0}."));
        if (r.FineTuneNote is { } note) sb.Append(" Fine-tuned network: ").Append(H(note));
        sb.Append("</p>");
        if (r.Temperature is { } t && r.Reliability is { } rel)
        {
            sb.Append(Fmt($"<h3>Calibration and unknown</h3><p class=\"note\">Probabilities are calibrated by one temperature, T = {t:0.###}, "))
              .Append(Fmt($"fitted on the validation split: expected calibration error on the test split {r.EceBefore:0.000} before, "))
              .Append(Fmt($"{r.EceAfter:0.000} after (15 bins; "))
              .Append(Fmt($"a perfectly calibrated model would show about {rel.EceSamplingFloor:0.000} on this many images)."));
            if (r.Unknown is { } u)
                sb.Append(Fmt($" A photo is called <b>unknown</b> when its {H(u.Method)} score is past <b>{u.Threshold:0.####}</b>, "))
                  .Append(Fmt($"the threshold that keeps {100 * u.KeepShare:0}% of validation photos; "))
                  .Append(Fmt($"it flags {100 * u.FlaggedShareTest:0.0}% of the test photos."));
            sb.Append("</p><figure class=\"curve reliability\">").Append(ReliabilityDiagram.Svg(rel.Before, rel.After, t)).Append("</figure>");
        }
        if (r.UnknownShare is { } share) sb.Append(Fmt($"<p class=\"note\">Called unknown: {100 * share:0.0}% of the scored images.</p>"));
        if (r.Shipped is { Validation.Length: > 1 } shipped)
        {
            sb.Append("<div class=\"scroll\"><table><thead><tr><th scope=\"col\">validation split</th><th scope=\"col\">accuracy</th>" +
                      "<th scope=\"col\">95% interval</th>");
            sb.Append("<th scope=\"col\">loss</th></tr></thead><tbody>");
            foreach (var v in shipped.Validation)
                sb.Append(Fmt($"<tr><th scope=\"row\">{N(v.Model)}{(v.Model == shipped.Model ? " (shipped)" : "")}</th>"))
                  .Append(Fmt($"<td>{v.Accuracy.Percent} ({v.Accuracy.Correct} of {v.Accuracy.Images})</td>"))
                  .Append(Fmt($"<td>{100 * v.Accuracy.Ci95Low:0.0}-{100 * v.Accuracy.Ci95High:0.0}%</td><td>{v.Loss:0.000}</td></tr>"));
            sb.Append("</tbody></table></div>");
        }
        return sb.ToString();
    }

    private static string PerClass(EvaluationReport r)
    {
        var sb = new StringBuilder("<div class=\"scroll\"><table><thead><tr><th scope=\"col\">class</th><th scope=\"col\">precision</th>" +
                                   "<th scope=\"col\">recall</th><th scope=\"col\">F1</th><th scope=\"col\">support</th></tr></thead><tbody>");
        foreach (var c in r.PerClass)
            sb.Append(Fmt($"<tr><th scope=\"row\">{N(c.Label)}</th><td>{c.Precision:0.000}</td><td>{c.Recall:0.000}</td>"))
              .Append(Fmt($"<td>{c.F1:0.000}</td><td>{c.Support}</td></tr>"));
        return sb.Append("</tbody></table></div>").ToString();
    }

    /// <summary>Counts shaded by their share of the row; every off-diagonal count is a button that filters the gallery.</summary>
    private static string Confusion(ConfusionMatrixReport m)
    {
        var sb = new StringBuilder("<div class=\"scroll\"><table id=\"confusion\"><thead><tr><th scope=\"col\">true \\ predicted</th>");
        foreach (var label in m.Labels) sb.Append("<th scope=\"col\">").Append(N(label)).Append("</th>");
        sb.Append("</tr></thead><tbody>");
        for (var t = 0; t < m.Labels.Length; t++)
        {
            sb.Append("<tr><th scope=\"row\">").Append(N(m.Labels[t])).Append("</th>");
            var rowTotal = Math.Max(1, m.Rows[t].Sum());
            for (var p = 0; p < m.Labels.Length; p++)
            {
                var n = m.Rows[t][p];
                var share = (double)n / rowTotal;
                var shade = Fmt($"background:rgba(31,111,178,{0.85 * share:0.###}){(share > 0.5 ? ";color:#fff" : "")}");
                sb.Append(Fmt($"<td style=\"{shade}\">"));
                if (t != p && n > 0)
                    sb.Append(Fmt($"<button type=\"button\" data-t=\"{t}\" data-p=\"{p}\" data-tn=\"{A(m.Labels[t])}\" data-pn=\"{A(m.Labels[p])}\" "))
                      .Append(Fmt($"aria-pressed=\"false\" title=\"show the {n} {A(m.Labels[t])} images predicted as {A(m.Labels[p])}\">{n}</button>"));
                else sb.Append(Fmt($"<span>{n}</span>"));
                sb.Append("</td>");
            }
            sb.Append("</tr>");
        }
        return sb.Append("</tbody></table></div>").ToString();
    }

    /// <summary>One figure per mistake, in the report's order (most confident first), each tagged with its pair for the filter.</summary>
    private static string Gallery(EvaluationReport r, PageSources sources)
    {
        if (r.Misclassified.Length == 0) return "<p id=\"gallery\">None: every image was classified correctly.</p>";
        var index = r.ConfusionMatrix.Labels.Select((name, i) => (name, i)).ToDictionary(x => x.name, x => x.i, StringComparer.Ordinal);
        var files = r.Misclassified.Select(m => Path.GetFullPath(Path.Join(sources.ImageRoot, m.Path))).ToArray();
        var thumbnails = new (Thumbnail? Thumbnail, string? Error)[files.Length];
        Parallel.For(0, files.Length, i => thumbnails[i] = Thumbnail.FromFile(files[i], sources.MaxPixels));

        var sb = new StringBuilder("<div id=\"gallery\">");
        for (var i = 0; i < r.Misclassified.Length; i++)
        {
            var m = r.Misclassified[i];
            sb.Append(Fmt($"<figure data-t=\"{index[m.TrueLabel]}\" data-p=\"{index[m.PredictedLabel]}\">"));
            var (thumbnail, error) = thumbnails[i];
            sb.Append("<a href=\"").Append(A(HtmlText.FileUrl(files[i]))).Append("\">");
            if (thumbnail is not null)
                sb.Append(Fmt($"<img src=\"{thumbnail.DataUri}\" width=\"{thumbnail.Width}\" height=\"{thumbnail.Height}\" alt=\"{A(m.Path)}\">"));
            else sb.Append("<div class=\"missing\">no thumbnail: ").Append(H(error ?? "")).Append("</div>");
            sb.Append("</a><figcaption>");
            sb.Append(Fmt($"<b>{N(m.PredictedLabel)}</b> {Pct(m.Confidence)}<br>true <b>{N(m.TrueLabel)}</b><ol>"));
            foreach (var top in m.TopK) sb.Append(Fmt($"<li>{N(top.Label)} {Pct(top.Probability)}</li>"));
            sb.Append("</ol><small>").Append(N(m.Path)).Append("</small></figcaption></figure>");
        }
        return sb.Append("</div>").ToString();
    }

    /// <summary>How many items of each of the data doctor's lists the page shows (the most suspicious); the JSON holds them all.</summary>
    public const int ShownIssues = 60;

    /// <summary>
    /// The data doctor's findings (reports/dataset_issues.json), when Audit wrote them: the class counts and the balance warning,
    /// then the suspected label errors, the near-duplicate pairs side by side and the outliers, each list cut at <see cref="ShownIssues"/>,
    /// every photo an embedded thumbnail with a tick box whose line (its path, or its content id) the button saves as an exclude list.
    /// </summary>
    private static string DatasetIssuesSection(EvaluationReport r, PageSources sources)
    {
        if (sources.Doctor is not { } doctor) return "";
        var issues = doctor.Issues;
        var suspects = issues.LabelIssues.Take(ShownIssues).ToList();
        var pairs = issues.NearDuplicates.Take(ShownIssues).ToList();
        var outliers = issues.Outliers.Take(ShownIssues).ToList();
        var paths = suspects.Select(s => s.Path).Concat(pairs.SelectMany(p => new[] { p.A, p.B })).Concat(outliers.Select(o => o.Path))
            .Distinct(StringComparer.Ordinal).ToArray();
        var thumbnails = new (Thumbnail? Thumbnail, string? Error)[paths.Length];
        Parallel.For(0, paths.Length, i => thumbnails[i] = Thumbnail.FromFile(Path.GetFullPath(Path.Join(sources.ImageRoot, paths[i])), sources.MaxPixels));
        var byPath = paths.Select((p, i) => (p, i)).ToDictionary(x => x.p, x => thumbnails[x.i], StringComparer.Ordinal);

        string Photo(string rel)
        {
            var file = Path.GetFullPath(Path.Join(sources.ImageRoot, rel));
            var (thumbnail, error) = byPath[rel];
            var sb = new StringBuilder();
            sb.Append(Fmt($"<label><input type=\"checkbox\" data-line=\"{A(doctor.ExcludeLine(rel))}\" data-path=\"{A(rel)}\"> leave out</label>"));
            sb.Append("<a href=\"").Append(A(HtmlText.FileUrl(file))).Append("\">");
            if (thumbnail is not null)
                sb.Append(Fmt($"<img src=\"{thumbnail.DataUri}\" width=\"{thumbnail.Width}\" height=\"{thumbnail.Height}\" alt=\"{A(rel)}\">"));
            else sb.Append("<div class=\"missing\">no thumbnail: ").Append(H(error ?? "")).Append("</div>");
            return sb.Append("</a>").ToString();
        }
        string More(int all, int shown) => all > shown
            ? Fmt($"<p class=\"note\">The {shown} most suspicious are shown; the other {all - shown} are in <code>{N(doctor.Path)}</code>.</p>")
            : "";

        var html = new StringBuilder("<section id=\"issues\"><h2>Dataset issues</h2>");
        html.Append("<p class=\"note\">The data doctor (the Audit stage) found ")
            .Append(Fmt($"<b>{DoctorFindings.Images(issues.LabelIssues.Count, "suspected label error")}</b>, "))
            .Append(Fmt($"<b>{DoctorFindings.Images(issues.Leaks, "leak")}</b> and <b>{DoctorFindings.Images(issues.Conflicts, "conflict")}</b> "))
            .Append(Fmt($"among {DoctorFindings.Images(issues.NearDuplicates.Count, "near-duplicate pair")}, and "))
            .Append(Fmt($"{DoctorFindings.Images(issues.Outliers.Count, "outlier")}: <code>{N(doctor.Path)}</code>. "))
            .Append("Tick the photos to leave out and download the list, name it in <code>dataset.exclude</code> and run <code>make</code> again: ")
            .Append("training and scoring leave them out, and nothing is re-extracted.</p>");
        if (!doctor.Current)
            html.Append("<p class=\"warning\" role=\"alert\"><b>Warning:</b> this file was written for other inputs (the dataset, the backbone, ")
                .Append("train_head or dataset.exclude changed since): run <code>make audit</code> for findings about this run.</p>");
        if (r.AccuracyWithoutLeaks is { } clean && r.DatasetIssues is { } d)
            html.Append(Fmt($"<p>Test accuracy without the {DoctorFindings.Images(d.LeakedTestImages.Length, "test photo")} "))
                .Append("that have a near-copy in the train split: ")
                .Append(Fmt($"<b>{H(clean.ToString())}</b>, against {H(r.Accuracy.ToString())} with them.</p>"));
        html.Append("<div id=\"exclude-bar\"><button type=\"button\" id=\"download-ticked\" disabled>download the ticked list</button>")
            .Append("<span id=\"ticked-status\"></span></div>");

        html.Append("<h3>Class counts</h3>");
        if (issues.ClassBalanceWarning is { } warning) html.Append("<p class=\"warning\" role=\"alert\"><b>Warning:</b> ").Append(H(warning)).Append("</p>");
        var splits = new[] { "train", "validation", "test" };
        html.Append("<div class=\"scroll\"><table id=\"class-counts\"><thead><tr><th scope=\"col\">class</th>");
        foreach (var split in splits) html.Append("<th scope=\"col\">").Append(split).Append("</th>");
        html.Append("<th scope=\"col\">all</th></tr></thead><tbody>");
        foreach (var (cls, counts) in issues.ClassCounts.OrderBy(c => c.Key, StringComparer.Ordinal))
        {
            html.Append("<tr><th scope=\"row\">").Append(N(cls)).Append("</th>");
            foreach (var split in splits) html.Append(Fmt($"<td>{counts.GetValueOrDefault(split)}</td>"));
            html.Append(Fmt($"<td>{counts.Values.Sum()}</td></tr>"));
        }
        html.Append("</tbody></table></div>");

        html.Append(Fmt($"<h3>Suspected label errors ({issues.LabelIssues.Count})</h3>"));
        html.Append("<p class=\"note\">Most suspicious first: the score is how strongly held-out heads " +
                    "and each photo's neighbours say its label is wrong.</p>");
        html.Append("<div class=\"issues\" id=\"suspects\">");
        foreach (var s in suspects)
            html.Append(Fmt($"<figure data-path=\"{A(s.Path)}\">")).Append(Photo(s.Path))
                .Append(Fmt($"<figcaption>given <b>{N(s.Given)}</b>, suggested <b>{N(s.Suggested)}</b><br>score {s.Score:0.00}, {H(s.Split)}<br>"))
                .Append("<small>").Append(N(s.Path)).Append("</small></figcaption></figure>");
        html.Append("</div>").Append(More(issues.LabelIssues.Count, suspects.Count));

        html.Append(Fmt($"<h3>Near-duplicate pairs ({issues.NearDuplicates.Count})</h3>"));
        html.Append("<p class=\"note\">Two files of nearly the same picture: a <b>conflict</b> under two labels, a <b>leak</b> across two splits ")
            .Append("(a test photo whose copy the head trained on flatters the test accuracy), or both in one split.</p>");
        html.Append("<div class=\"issues dups\" id=\"pairs\">");
        foreach (var p in pairs)
        {
            html.Append(Fmt($"<figure class=\"{A(p.Kind)}\" data-kind=\"{A(p.Kind)}\"><div class=\"two\">"));
            foreach (var (path, label, split) in new[] { (p.A, p.ALabel, p.ASplit), (p.B, p.BLabel, p.BSplit) })
                html.Append(Fmt($"<div class=\"side\" data-path=\"{A(path)}\">")).Append(Photo(path))
                    .Append(Fmt($"<b>{N(label.Length > 0 ? label : "?")}</b>, {H(split.Length > 0 ? split : "?")}<br><small>{N(path)}</small></div>"));
            html.Append(Fmt($"</div><figcaption><b class=\"kind\">{H(p.Kind)}</b>, similarity {p.Similarity:0.000}</figcaption></figure>"));
        }
        html.Append("</div>").Append(More(issues.NearDuplicates.Count, pairs.Count));

        html.Append(Fmt($"<h3>Outliers ({issues.Outliers.Count})</h3>"));
        html.Append("<p class=\"note\">Photos far from every other (their nearest neighbours' mean cosine distance), " +
                    "farthest first: often no photo of any class.</p>");
        html.Append("<div class=\"issues\" id=\"outliers\">");
        foreach (var o in outliers)
            html.Append(Fmt($"<figure data-path=\"{A(o.Path)}\">")).Append(Photo(o.Path))
                .Append(Fmt($"<figcaption>score {o.Score:0.000}<br><small>{N(o.Path)}</small></figcaption></figure>"));
        html.Append("</div>").Append(More(issues.Outliers.Count, outliers.Count));
        return html.Append("</section>").ToString();
    }

    /// <summary>A training log's curve, the kept point marked: the step (TrainHead) or epoch (FineTune) of the best validation
    /// accuracy, then the lowest loss, the rule both trainers keep their weights by.</summary>
    private static string Curve(IReadOnlyList<TrainingLogRow>? log, string logPath) =>
        log is { Count: > 0 }
            ? CurveFigure(log, KeptStep(log))
            : $"<p class=\"note\">No learning curve: {N(logPath)} is missing or unreadable.</p>";

    /// <summary>ScottPlot's SVG of the learning curve (the same plot as TrainHead's PNG), inline: a vector that scales with the page.</summary>
    private static string CurveFigure(IReadOnlyList<TrainingLogRow> log, int bestStep) =>
        "<figure class=\"curve learning\">" + LearningCurvePlot.Svg(log, bestStep) + "</figure>";

    private static int KeptStep(IReadOnlyList<TrainingLogRow> log) =>
        log.Where(r => !double.IsNaN(r.ValidationAccuracy)).OrderByDescending(r => r.ValidationAccuracy).ThenBy(r => r.ValidationLoss)
            .Select(r => r.Step).DefaultIfEmpty(log[^1].Step).First();

    /// <summary>The shipped model and the other one in two columns (figures, per-class F1), then both learning curves.</summary>
    private static string SideBySide(EvaluationReport shipped, PageSources sources, ComparedResult other)
    {
        var o = other.Report;
        var sb = new StringBuilder("<div class=\"scroll\"><table><thead><tr><th scope=\"col\">test split</th><th scope=\"col\">");
        sb.Append(N(shipped.Model)).Append(" (shipped)</th><th scope=\"col\">").Append(N(other.Name)).Append("</th></tr></thead><tbody>");
        void Row(string name, string a, string b) =>
            sb.Append("<tr><th scope=\"row\">").Append(name).Append("</th><td>").Append(a).Append("</td><td>").Append(b).Append("</td></tr>");
        Row("accuracy", H(shipped.Accuracy.ToString()), H(o.Accuracy.ToString()));
        Row($"top-{shipped.TopK} accuracy", Pct(shipped.TopKAccuracy.Value), Pct(o.TopKAccuracy.Value));
        Row("macro F1", Fmt($"{shipped.MacroF1:0.000}"), Fmt($"{o.MacroF1:0.000}"));
        Row("misclassified", Fmt($"{shipped.Misclassified.Length}"), Fmt($"{o.Misclassified.Length}"));
        foreach (var c in shipped.PerClass)
        {
            var theirs = o.PerClass.FirstOrDefault(x => x.Label == c.Label);
            Row($"F1 {N(c.Label)}", Fmt($"{c.F1:0.000}"), theirs is null ? "" : Fmt($"{theirs.F1:0.000}"));
        }
        sb.Append("</tbody></table></div><div class=\"pair\">");
        sb.Append("<section><h3>").Append(N(shipped.Model)).Append(" (shipped)</h3>")
          .Append(Curve(sources.LearningCurve, sources.LearningCurvePath)).Append("</section>");
        sb.Append("<section><h3>").Append(N(other.Name)).Append("</h3>");
        sb.Append(other.LearningCurve is { Count: > 0 } log ? CurveFigure(log, KeptStep(log)) : "<p class=\"note\">No learning curve.</p>");
        return sb.Append("</section></div>").ToString();
    }

    private static string Provenance(EvaluationReport r, RunProvenance p)
    {
        var sb = new StringBuilder("<dl>");
        void Item(string name, string markup) => sb.Append("<dt>").Append(name).Append("</dt><dd>").Append(markup).Append("</dd>");
        Item("written", H(p.Written.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss 'UTC'", CultureInfo.InvariantCulture)));
        Item("dataset", $"<code>{N(p.Dataset.Root)}</code>, {H(p.Dataset.HashName)} <code>{H(p.Dataset.Hash)}</code>");
        Item("backbone", $"{N(r.Backbone.Name)}, fingerprint <code>{H(r.Backbone.Fingerprint)}</code>");
        Item("model", $"{N(r.Model)}; head <code>{N(r.Head.Path)}</code>, inputs hash <code>{H(r.Head.InputsHash)}</code>");
        if (r.InputsHash.Length > 0) Item("evaluation inputs hash", $"<code>{H(r.InputsHash)}</code>");
        if (r.Export is { } e) Item("exported model", $"<code>{N(e.Path)}</code>");
        Item("config", $"<code>{N(p.ConfigPath)}</code>");
        sb.Append("</dl><div class=\"scroll\"><table id=\"provenance\"><thead><tr><th scope=\"col\">section</th><th scope=\"col\">hash</th>" +
                  "<th scope=\"col\">in effect</th></tr></thead><tbody>");
        foreach (var s in p.Sections)
            sb.Append(Fmt($"<tr><th scope=\"row\">{H(s.Name)}</th><td class=\"text\"><code>{H(s.Hash)}</code></td>"))
              .Append(Fmt($"<td class=\"text\"><pre>{HtmlText.Lines(s.Values)}</pre></td></tr>"));
        return sb.Append("</tbody></table></div>").ToString();
    }

    /// <summary>Text (a sentence, a figure), encoded, its control and bidirectional characters shown.</summary>
    private static string H(string text) => HtmlText.Text(text);

    /// <summary>A class or file name, a path or a model's name: as <see cref="H"/>, in its own &lt;bdi&gt;.</summary>
    private static string N(string name) => HtmlText.Name(name);

    /// <summary>A value in a double-quoted attribute.</summary>
    private static string A(string value) => HtmlText.Attribute(value);
    private static string Pct(double v) => double.IsNaN(v) ? "n/a" : (100 * v).ToString("0.0", CultureInfo.InvariantCulture) + "%";
    private static string Fmt(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);
}
