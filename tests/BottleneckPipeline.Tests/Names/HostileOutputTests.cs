using System.Globalization;
using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using BottleneckPipeline.Evaluate;
using BottleneckPipeline.Tests.Fixtures;

namespace BottleneckPipeline.Tests.Names;

/// <summary>What the real stages write about a dataset of hostile names: every name escaped for the file it is in.</summary>
[Collection(HostileDatasetCollection.Name)]
public partial class HostileOutputTests(HostileDataset run)
{
    [Fact]
    public void Every_stage_prints_the_names_with_their_control_characters_and_overrides_escaped()
    {
        Assert.Equal(8, run.Runs.Count);
        foreach (var (command, result) in run.Runs)
        {
            var raw = result.Output.Where(c => (char.IsControl(c) && c != '\n') || c is '\u202E' or '\u2028' or '\u2029').Distinct().ToList();
            Assert.True(raw.Count == 0,
                $"{command} printed raw {string.Join(", ", raw.Select(c => $"U+{(int)c:X4}"))}:\n{result.Output}");
        }
        // The names do reach the console, escaped: the scored folder's name, with its override, in --data's closing line.
        var scoring = Assert.Single(run.Runs, r => r.Command.Contains("--data", StringComparison.Ordinal)).Result.StdOut;
        Assert.Contains(HostileNames.Shown(Path.GetFileName(run.Scored)), scoring);
    }

    [Fact]
    public void Predict_csv_neutralises_every_cell_a_spreadsheet_would_read_as_a_formula_and_quotes_as_rfc_4180_asks()
    {
        var rows = StrictCsv.Parse(File.ReadAllText(run.PredictionsCsv));
        Assert.Equal(
            ["path", "status", "unknown_score", "label_1", "probability_1", "label_2", "probability_2", "label_3", "probability_3", "reason"], rows[0]);
        Assert.Equal(run.Images.Count, rows.Count - 1);
        Assert.All(rows, r => Assert.Equal(rows[0].Count, r.Count));
        // A number such as an unknown score of -3.8 is read as that number; any other cell must not begin a formula.
        Assert.All(rows.SelectMany(r => r), cell =>
            Assert.False(cell.Length > 0 && "=+-@\t\r".Contains(cell[0]) && !double.TryParse(cell, NumberStyles.Float, CultureInfo.InvariantCulture, out _),
                $"a cell a spreadsheet runs as a formula: {cell}"));

        // Each row is the JSON's (which holds the names exactly), neutralised: the labels that begin with '-' and '=' gain a "'".
        var json = JsonNode.Parse(File.ReadAllText(run.PredictionsJson))!["images"]!.AsArray();
        for (var i = 0; i < json.Count; i++)
        {
            var image = json[i]!;
            var labels = image["top_k"]!.AsArray().Select(l => HostileNames.Neutralised(l!["label"]!.GetValue<string>()));
            Assert.Equal(new[] { image["path"]!.GetValue<string>(), image["status"]!.GetValue<string>() }.Concat(labels),
                rows[i + 1].Where((_, c) => c < 2 || c % 2 == 1 && c > 2 && c < 9));
        }
        Assert.Equal(run.Images.Select(i => i.Path).Order(StringComparer.Ordinal), rows.Skip(1).Select(r => r[0]).Order(StringComparer.Ordinal));
        var cells = rows.Skip(1).SelectMany(r => r).ToHashSet();
        Assert.Contains("'=cmd|' \\C calc'!A0", cells);
        Assert.Contains("'" + HostileNames.Classes[0], cells);
        Assert.Contains(HostileNames.Classes[1], cells); // '<' is no formula: kept as it is
    }

    [CmarkFact]
    public void Evaluation_md_rendered_shows_every_name_as_text_in_its_own_cell()
    {
        var report = EvaluationReport.FromJson(File.ReadAllText(Path.Combine(run.ReportsDir, "evaluation.json")));
        Assert.Equal(HostileNames.Classes, report.ConfusionMatrix.Labels);
        MarkdownRendering.AssertLiteral(File.ReadAllText(Path.Combine(run.ReportsDir, "evaluation.md")), report);
    }

    [Fact]
    public void Both_pages_hold_each_name_isolated_and_visible_and_allow_no_script_but_their_own()
    {
        foreach (var page in new[] { Path.Combine(run.ReportsDir, "evaluation.html"), run.ScoredPage })
        {
            var html = File.ReadAllText(page);
            var raw = Invisible().Match(html);
            Assert.False(raw.Success, $"{page} holds a control or bidirectional character as it is: " +
                                      $"...{html[Math.Max(0, raw.Index - 120)..Math.Min(html.Length, raw.Index + 40)]}...");
            Assert.Equal(1, Regex.Count(html, "<script"));
            foreach (var label in HostileNames.Classes) Assert.Contains($"<bdi>{WebUtility.HtmlEncode(HostileNames.Shown(label))}</bdi>", html);
            Assert.DoesNotContain("<img src=x", html);
            Assert.DoesNotContain("<svg onload", html);

            // The policy allows the page's one script by its hash, and no other inline script.
            var policy = Regex.Match(html, "<meta http-equiv=\"Content-Security-Policy\" content=\"([^\"]*)\">").Groups[1].Value;
            var scriptSrc = policy.Split(';', StringSplitOptions.TrimEntries).Single(d => d.StartsWith("script-src ", StringComparison.Ordinal));
            var script = Regex.Match(html, "<script>(.*?)</script>", RegexOptions.Singleline).Groups[1].Value;
            Assert.Equal($"script-src 'sha256-{Convert.ToBase64String(SHA256.HashData(Encoding.UTF8.GetBytes(script)))}'", scriptSrc);
        }
    }

    [Fact]
    public void Each_link_of_the_scored_page_names_its_own_file_whatever_its_name_holds()
    {
        var html = File.ReadAllText(run.ScoredPage);
        var mistakes = run.ScoredReport["misclassified"]!.AsArray().Select(m => m!["path"]!.GetValue<string>()).ToList();
        Assert.Equal(run.ScoredFiles, mistakes.Count);
        var links = Regex.Matches(html, "<figure [^>]*><a href=\"([^\"]*)\">")
            .Select(m => HostileDataset.FilePathOf(WebUtility.HtmlDecode(m.Groups[1].Value))).ToList();
        Assert.Equal(mistakes.Select(m => Path.Join(run.Scored, m)), links);
        Assert.All(links, path => Assert.True(File.Exists(path), path));
    }

    [GeneratedRegex("[\u0000-\u0009\u000B-\u001F\u007F-\u009F\u061C\u200E\u200F\u2028\u2029\u202A-\u202E\u2066-\u2069]")]
    private static partial Regex Invisible();
}
