using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using BottleneckPipeline.Artifacts;
using BottleneckPipeline.Cache;
using BottleneckPipeline.Evaluate;
using BottleneckPipeline.Evaluate.Html;
using BottleneckPipeline.Metrics;
using BottleneckPipeline.Tests.Fixtures;
using SixLabors.ImageSharp;
using Xunit.Abstractions;

namespace BottleneckPipeline.Tests.Audit;

/// <summary>What `make` shows of the data doctor (see <see cref="DoctorPipeline"/>): evaluation.html's Dataset issues section, the
/// closing line, evaluation.md and evaluation.json, and the test accuracy without the photo that leaked into train.</summary>
[Collection(DoctorPipelineCollection.Name)]
public sealed class DoctorReportTests(DoctorPipeline run, ITestOutputHelper output)
{
    private DatasetIssues Issues() => DatasetIssues.TryRead(Path.Combine(run.ReportsDir, "dataset_issues.json"))
        ?? throw new InvalidOperationException("make wrote no readable dataset_issues.json");

    [Fact]
    public void Make_writes_the_doctors_findings_and_the_page_shows_every_suspect_pair_and_outlier_with_an_embedded_thumbnail()
    {
        var issues = Issues();
        var moved = Assert.Single(issues.LabelIssues, s => s.Path == DoctorPipeline.Moved);
        Assert.Equal(("roses", "daisy"), (moved.Given, moved.Suggested));
        var leak = Assert.Single(issues.NearDuplicates, d => new[] { d.A, d.B }.Order(StringComparer.Ordinal)
            .SequenceEqual(new[] { run.LeakSource, DoctorPipeline.LeakCopy }.Order(StringComparer.Ordinal)));
        Assert.Equal(NearDuplicateKinds.Leak, leak.Kind);
        Assert.Equal(("dandelion", "dandelion"), (leak.ALabel, leak.BLabel));
        Assert.Equal(["test", "train"], new[] { leak.ASplit, leak.BSplit }.Order(StringComparer.Ordinal));
        Assert.Equal([run.LeakSource], issues.LeakedTestImages);

        var html = File.ReadAllText(run.PagePath);
        var start = html.IndexOf("<section id=\"issues\"><h2>Dataset issues</h2>", StringComparison.Ordinal);
        Assert.True(start > 0, "no Dataset issues section on the page");
        var section = html[start..html.IndexOf("</section>", start, StringComparison.Ordinal)];
        // Each list in the file's order (most suspicious first), every item with its photo and a tick box carrying its line.
        Assert.Equal(issues.LabelIssues.Take(EvaluationPage.ShownIssues).Select(s => s.Path), Attributes(List(section, "suspects"), "figure data-path"));
        Assert.Equal(issues.NearDuplicates.Take(EvaluationPage.ShownIssues).SelectMany(d => new[] { d.A, d.B }),
            Attributes(List(section, "pairs"), "div class=\"side\" data-path"));
        Assert.Equal(issues.Outliers.Take(EvaluationPage.ShownIssues).Select(o => o.Path), Attributes(List(section, "outliers"), "figure data-path"));
        var photos = issues.LabelIssues.Count + 2 * issues.NearDuplicates.Count + issues.Outliers.Count;
        Assert.Equal(photos, Regex.Count(section, "<input type=\"checkbox\" data-line="));
        var sources = Regex.Matches(section, "<img src=\"([^\"]*)\"").Select(m => m.Groups[1].Value).ToList();
        Assert.Equal(photos, sources.Count);
        foreach (var src in sources.Distinct())
        {
            Assert.StartsWith("data:image/jpeg;base64,", src); // embedded: nothing is loaded from elsewhere
            var jpeg = Convert.FromBase64String(src["data:image/jpeg;base64,".Length..]);
            Assert.InRange(jpeg.Length, 1, Thumbnail.MaxBytes);
            using var image = Image.Load(jpeg);
            Assert.InRange(Math.Max(image.Width, image.Height), 16, Thumbnail.MaxSide);
        }
        Assert.Contains("<b class=\"kind\">leak</b>", section);
        Assert.Contains(Path.Combine(run.ReportsDir, "dataset_issues.json"), section);
        foreach (var cls in new[] { "daisy", "dandelion", "roses" }) Assert.Contains($"<tr><th scope=\"row\"><bdi>{cls}</bdi></th>", section);
    }

    [ChromiumFact]
    public async Task In_Chromium_the_photos_decode_and_the_button_downloads_exactly_the_ticked_paths()
    {
        var issues = Issues();
        using var downloads = new TempDir();
        await using var browser = await Chromium.StartAsync(width: 1100, height: 900, downloadDir: downloads.Path);
        var page = await browser.OpenPageAsync(run.PagePath);

        Assert.Equal([issues.LabelIssues.Count, issues.NearDuplicates.Count, issues.Outliers.Count],
            await page.EvaluateExpressionAsync<int[]>("['#suspects', '#pairs', '#outliers'].map(s => document.querySelectorAll(s + ' > figure').length)"));
        var widths = await page.EvaluateExpressionAsync<int[]>(
            "Promise.all([...document.querySelectorAll('#issues img')].map(i => i.decode().then(() => i.naturalWidth, () => 0)))");
        Assert.Equal(issues.LabelIssues.Count + 2 * issues.NearDuplicates.Count + issues.Outliers.Count, widths.Length);
        Assert.All(widths, w => Assert.InRange(w, 1, Thumbnail.MaxSide));
        Assert.True(await page.EvaluateExpressionAsync<bool>("document.getElementById('download-ticked').disabled"), "nothing ticked yet");

        // Tick the moved daisy among the suspects and the leaked copy in its pair, as a person would: a click on each box.
        await page.ClickAsync($"#suspects figure[data-path=\"{DoctorPipeline.Moved}\"] input");
        await page.ClickAsync($"#pairs .side[data-path=\"{DoctorPipeline.LeakCopy}\"] input");
        Assert.Equal("2 ticked", await page.EvaluateExpressionAsync<string>("document.getElementById('ticked-status').textContent"));
        await Chromium.ScreenshotAsync(page, "dataset-issues", "#issues");
        await page.ClickAsync("#download-ticked");

        var saved = Path.Combine(downloads.Path, "exclude.txt");
        for (var waited = 0; !File.Exists(saved) && waited < 200; waited++) await Task.Delay(50);
        Assert.True(File.Exists(saved), $"no download in {downloads.Path}: {string.Join(", ", Directory.GetFiles(downloads.Path))}");
        var text = File.ReadAllText(saved);
        output.WriteLine(text);
        // Exactly those two paths, one a line, in the format dataset.exclude reads (a comment line above them).
        Assert.Equal([DoctorPipeline.Moved, DoctorPipeline.LeakCopy], text.Split('\n', StringSplitOptions.RemoveEmptyEntries).Where(l => !l.StartsWith('#')));
        var list = ExcludeList.Parse(text);
        Assert.Equal([DoctorPipeline.Moved, DoctorPipeline.LeakCopy], list.Paths);
        Assert.Empty(list.ContentIds);
        Assert.Empty(browser.Errors); // the script ran under the page's policy, nothing refused
    }

    [Fact]
    public void The_closing_line_evaluation_md_and_evaluation_json_count_the_findings_with_the_files_path()
    {
        var issues = Issues();
        var path = Path.Combine(run.ReportsDir, "dataset_issues.json");
        Assert.Contains($"; data doctor: {issues.Counts()} ({path})", DoctorPipeline.Line(run.First, "Evaluate"));
        Assert.StartsWith($"{issues.LabelIssues.Count} suspected label error", issues.Counts());
        Assert.Contains("1 leak, 0 conflicts", issues.Counts());

        var markdown = File.ReadAllText(Path.Combine(run.ReportsDir, "evaluation.md"));
        Assert.Contains("## Dataset issues", markdown);
        Assert.Contains($"The data doctor (the Audit stage) found {issues.Counts()} among 1 near-duplicate pair", markdown);
        Assert.Contains($"`{path}`", markdown);

        var summary = run.Json("evaluation.json")["dataset_issues"]!;
        Assert.Equal(path, summary["path"]!.GetValue<string>());
        Assert.True(summary["current"]!.GetValue<bool>());
        Assert.Equal(issues.LabelIssues.Count, summary["suspected_label_errors"]!.GetValue<int>());
        Assert.Equal([1, 0, issues.Outliers.Count], new[] { "leaks", "conflicts", "outliers" }.Select(k => summary[k]!.GetValue<int>()));
    }

    [Fact]
    public void A_leak_into_test_gives_the_test_accuracy_without_the_leaked_photo_in_every_report()
    {
        var report = run.Json("evaluation.json");
        var all = Read(report["accuracy"]!);
        var wrong = report["misclassified"]!.AsArray().Select(m => m!["path"]!.GetValue<string>()).ToHashSet();
        var expected = Accuracy.Of(all.Correct - (wrong.Contains(run.LeakSource) ? 0 : 1), all.Images - 1);
        Assert.Equal(expected, Read(report["accuracy_without_leaks"]!));
        Assert.Equal([run.LeakSource], report["dataset_issues"]!["leaked_test_images"]!.AsArray().Select(p => p!.GetValue<string>()));
        Assert.Equal(expected.Ci95Low, report["accuracy_without_leaks"]!["ci95_low"]!.GetValue<double>(), 9);

        Assert.Contains($"; without the 1 test image leaked from train (a near-copy in the train split): {expected}",
            DoctorPipeline.Line(run.First, "Evaluate"));
        Assert.Contains($"- Accuracy without the 1 test image leaked from train (a near-copy in the train split): **{expected}**",
            File.ReadAllText(Path.Combine(run.ReportsDir, "evaluation.md")));
        var html = File.ReadAllText(run.PagePath);
        Assert.Contains($"<li><b>{expected.Percent}</b>accuracy without the 1 test photo leaked from train " +
                        $"({expected.Correct} of {expected.Images}; {expected.Interval};", html);
        Assert.Contains($"<b>{expected}</b>, against {all} with them.", html);
    }

    private static Accuracy Read(JsonNode node) => Accuracy.Of(node["correct"]!.GetValue<int>(), node["images"]!.GetValue<int>());

    /// <summary>The markup of one list of the section, by its id.</summary>
    private static string List(string section, string id)
    {
        var start = section.IndexOf($"<div class=\"issues{(id == "pairs" ? " dups" : "")}\" id=\"{id}\">", StringComparison.Ordinal);
        Assert.True(start >= 0, $"no list #{id}");
        var end = section.IndexOf("<h3>", start, StringComparison.Ordinal);
        return end < 0 ? section[start..] : section[start..end];
    }

    /// <summary>The values of an attribute, in order, where the markup reads `{prefix}="value"`.</summary>
    private static List<string> Attributes(string markup, string prefix) =>
        [.. Regex.Matches(markup, $"<{Regex.Escape(prefix)}=\"([^\"]*)\"").Select(m => System.Net.WebUtility.HtmlDecode(m.Groups[1].Value))];
}
