using System.Net;
using System.Text.RegularExpressions;
using BottleneckPipeline.Config;
using BottleneckPipeline.Evaluate;
using BottleneckPipeline.Evaluate.Escaping;
using BottleneckPipeline.Metrics;
using BottleneckPipeline.Tests.Fixtures;

namespace BottleneckPipeline.Tests.Names;

/// <summary>Each output's escaping of one name, case by case; <see cref="HostileOutputTests"/> checks what the real stages write.</summary>
public class NameEscapingTests
{
    [Theory]
    [InlineData("daisy", "daisy")]
    [InlineData("=cmd|' \\C calc'!A0", "'=cmd|' \\C calc'!A0")]
    [InlineData("+1", "'+1")]
    [InlineData("-1", "'-1")]
    [InlineData("@SUM(A1)", "'@SUM(A1)")]
    [InlineData("\t=1", "\"'\t=1\"")]
    [InlineData("\r=1", "\"'\r=1\"")]
    [InlineData("a,=1+1", "\"a,=1+1\"")]
    [InlineData("a;=1+1", "\"a;=1+1\"")]
    [InlineData("=\"x\",y", "\"'=\"\"x\"\",y\"")]
    [InlineData("two\nlines", "\"two\nlines\"")]
    [InlineData("a=1", "a=1")]
    [InlineData("", "")]
    public void A_csv_cell_never_begins_with_a_formula_and_is_quoted_where_it_holds_a_separator(string name, string cell)
    {
        Assert.Equal(cell, CsvCell.Of(name));
        Assert.Equal([HostileNames.Neutralised(name)], StrictCsv.Parse(cell + "\n").Single());
    }

    [Theory]
    [InlineData("daisy", false, "`daisy`")]
    [InlineData("a|b", true, "`a\\|b`")]
    [InlineData("a|b", false, "`a|b`")]
    [InlineData("`tick` ``two``", false, "``` `tick` ``two`` ```")]
    [InlineData(" padded ", false, "`  padded  `")]
    [InlineData("two\nlines\u001b[2J\u202E", true, "`two\\x0alines\\x1b[2J\\u202e`")]
    [InlineData("<img src=x onerror=f()> &amp; [a](b) *c*", true, "`<img src=x onerror=f()> &amp; [a](b) *c*`")]
    public void A_markdown_name_is_a_code_span_that_nothing_in_it_can_close(string name, bool inTable, string markdown) =>
        Assert.Equal(markdown, MarkdownText.Name(name, inTable));

    [Theory]
    [InlineData("plain words, 80.0% (8 of 10)", "plain words, 80.0% (8 of 10)")]
    [InlineData("'<img src=x onerror=f()>' & co", "'&lt;img src=x onerror=f()&gt;' &amp; co")]
    [InlineData("[a](javascript:f()) *b* _c_ `d` ~e~ a|b \\ $x$ #1", "\\[a\\](javascript:f()) \\*b\\* \\_c\\_ \\`d\\` \\~e\\~ a\\|b \\\\ \\$x\\$ \\#1")]
    [InlineData("www.evil.com http://evil x@evil.co", "www\\.evil.com http\\://evil x@<!-- -->evil.co")]
    [InlineData("a\nb\u202Ec", "a\\\\x0ab\\\\u202ec")] // a backslash shown is escaped too
    public void Markdown_text_escapes_markup_links_and_cells_and_shows_control_characters(string text, string markdown) =>
        Assert.Equal(markdown, MarkdownText.Text(text));

    [CmarkFact]
    public void Evaluation_md_of_every_hostile_name_renders_each_as_text_in_its_own_cell()
    {
        var report = Hostile();
        MarkdownRendering.AssertLiteral(EvaluationWriter.Markdown(report), report);
        // The warning names the largest class as it is.
        var plain = MarkdownRendering.Render(MarkdownRendering.Gfm!, "--to plaintext -e autolink", EvaluationWriter.Markdown(report));
        Assert.Contains($"always answering '{HostileNames.Classes[1]}' (the largest class)", plain);
    }

    [Theory]
    [InlineData("/data/a#b.jpg", "file:///data/a%23b.jpg")]
    [InlineData("/data/%41.jpg", "file:///data/%2541.jpg")]
    [InlineData("/data/x?y z.jpg", "file:///data/x%3Fy%20z.jpg")]
    [InlineData("/data/new\nline/\u00e9\u202E.jpg", "file:///data/new%0Aline/%C3%A9%E2%80%AE.jpg")]
    public void A_file_link_is_built_from_the_path_itself_and_opens_that_path(string path, string url)
    {
        Assert.Equal(url, HtmlText.FileUrl(path));
        Assert.Equal(path, HostileDataset.FilePathOf(url));
    }

    [Fact]
    public void A_name_on_a_page_is_encoded_isolated_and_shows_its_hidden_characters()
    {
        Assert.Equal("<bdi>x\\u202egnp.jpg</bdi>", HtmlText.Name("x\u202Egnp.jpg"));
        Assert.Equal("<bdi>&lt;img src=x onerror=f()&gt; &amp; &quot;q&quot; &#39;s&#39; \\x1b[2J\\x0a</bdi>",
            HtmlText.Name("<img src=x onerror=f()> & \"q\" 's' \u001b[2J\n"));
        Assert.Equal("a&quot; onmouseover=&quot;f() \\u202e", HtmlText.Attribute("a\" onmouseover=\"f() \u202E"));
        Assert.Equal("dataset:\n  root: /data/x\\u202e", HtmlText.Lines("dataset:\n  root: /data/x\u202E"));
    }

    [Fact]
    public void The_page_of_every_hostile_name_holds_each_in_its_own_bdi_and_links_each_file_by_its_path()
    {
        using var dir = new TempDir();
        var report = Hostile();
        var config = new PipelineConfig { Workspace = dir.Path };
        var sources = new PageSources("test split", dir.Path, config.Dataset.MaxPixels, null, dir["training_log.csv"],
            RunProvenance.For(config, new DatasetIdentity(dir.Path, "index hash", "i"), DateTimeOffset.UnixEpoch),
            new ComparedResult(report.Comparison!.Model, report.Comparison, null));
        var html = EvaluationPage.Render(report, sources);

        Assert.DoesNotMatch("[\u0000-\u0009\u000B-\u001F\u007F-\u009F\u061C\u200E\u200F\u2028\u2029\u202A-\u202E\u2066-\u2069]", html);
        Assert.Equal(1, Regex.Count(html, "<script"));
        foreach (var label in HostileNames.Classes)
        {
            var shown = WebUtility.HtmlEncode(HostileNames.Shown(label));
            Assert.Contains($"<th scope=\"row\"><bdi>{shown}</bdi></th><td>", html); // per class, and the confusion matrix's rows
            Assert.Contains($"<th scope=\"row\">F1 <bdi>{shown}</bdi></th>", html); // beside the other model
            Assert.Contains($"<th scope=\"col\"><bdi>{shown}</bdi></th>", html); // the confusion matrix's columns
        }
        foreach (var m in report.Misclassified)
        {
            var figure = Regex.Match(html, $"<a href=\"{Regex.Escape(HtmlText.FileUrl(Path.Join(dir.Path, m.Path)))}\">(.*?)</figure>").Groups[1].Value;
            Assert.Contains($"<b><bdi>{WebUtility.HtmlEncode(HostileNames.Shown(m.PredictedLabel))}</bdi></b> 90.0%<br>", figure);
            Assert.Contains($"<small><bdi>{WebUtility.HtmlEncode(HostileNames.Shown(m.Path))}</bdi></small>", figure);
        }
    }

    /// <summary>
    /// A report that names every hostile class, and every hostile file among its mistakes, in each place a name goes: the
    /// warning, the tables, the mistakes; the other model beside it, and a note.
    /// </summary>
    internal static EvaluationReport Hostile()
    {
        var labels = HostileNames.Classes;
        var mistakes = HostileNames.Files.Select((f, i) => new Misclassification($"{labels[i % 3]}/{f}", labels[i % 3], labels[(i + 1) % 3], 0.9,
            [new(labels[(i + 1) % 3], 0.9), new(labels[i % 3], 0.1)])).ToArray();
        int[][] confusion = [[4, 7, 0], [0, 4, 6], [6, 0, 4]];
        var metrics = ClassificationMetrics.FromConfusion(confusion, labels, 2, 31);
        var report = EvaluationReport.Create("test split", "head only", metrics, mistakes, new BackboneReport("resnet18", "fp"),
            new HeadReport("/w/<ws>/head.msgpack", "h", 10, 0.5));
        report.Warnings = [ChanceCheck.Warning("head only", Accuracy.Of(4, 12), [2, 8, 2], labels)!];
        report.FineTuneNote = $"no fine-tuned network in /w/{labels[1]}/fine_tune";
        report.Comparison = EvaluationReport.Create("test split", "fine-tuned (last-stage)", metrics, mistakes, new BackboneReport("resnet18", "fp"),
            new HeadReport("h2", "h", 10, 0.5));
        return report;
    }
}
