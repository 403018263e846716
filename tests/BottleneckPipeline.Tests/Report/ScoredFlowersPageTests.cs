using System.Diagnostics;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using BottleneckPipeline.Evaluate.Html;
using BottleneckPipeline.Tests.Fixtures;
using PuppeteerSharp;
using SixLabors.ImageSharp;
using Xunit.Abstractions;

namespace BottleneckPipeline.Tests.Report;

/// <summary>
/// The four built stage executables on 80 real flowers, half of them held out for test, with a head
/// trained for only 10 steps so that it makes mistakes of several kinds: the page a person would
/// open after `make`.
/// </summary>
public sealed class ScoredFlowers : IDisposable
{
    public TempDir Dir { get; } = new();
    public string Data => Dir["data"];
    public string ConfigPath => Dir["pipeline.yaml"];
    public string ReportsDir => Dir["ws/reports"];
    public string PagePath => Path.Combine(ReportsDir, "evaluation.html");
    public JsonNode Report { get; }

    public ScoredFlowers()
    {
        TestIndex.CopyFlowers(Data, classes: 5, perClass: 16);
        File.WriteAllText(ConfigPath, """
            dataset:
              root: data
              validation_percent: 20
              test_percent: 50
            workspace: ws
            train_head:
              steps: 10
              eval_interval: 5
            """);
        foreach (var stage in new[] { "Ingest", "Extract", "TrainHead", "Evaluate" })
        {
            var r = StageProcess.Run(stage, "--config", ConfigPath);
            if (r.ExitCode != 0) throw new InvalidOperationException($"{stage} exited {r.ExitCode}:\n{r.Output}");
        }
        Report = JsonNode.Parse(File.ReadAllText(Path.Combine(ReportsDir, "evaluation.json")))!;
    }

    public JsonArray Misclassified => Report["misclassified"]!.AsArray();

    public void Dispose() => Dir.Dispose();
}

public class ScoredFlowersPageTests(ScoredFlowers run, ITestOutputHelper output) : IClassFixture<ScoredFlowers>
{
    [Fact]
    public void The_page_holds_every_mistake_as_an_embedded_thumbnail_and_loads_nothing_from_elsewhere()
    {
        var html = File.ReadAllText(run.PagePath);
        Assert.True(run.Misclassified.Count >= 2, $"the run should make mistakes to show; it made {run.Misclassified.Count}");
        Assert.Equal(run.Misclassified.Count, Regex.Count(html, "<figure data-t="));
        Assert.Contains($"Misclassified ({run.Misclassified.Count})", html);

        var sources = Regex.Matches(html, "\\ssrc=\"([^\"]*)\"").Select(m => m.Groups[1].Value).ToList();
        Assert.Equal(run.Misclassified.Count, sources.Count);
        foreach (var src in sources)
        {
            Assert.StartsWith("data:image/jpeg;base64,", src);
            var jpeg = Convert.FromBase64String(src["data:image/jpeg;base64,".Length..]);
            Assert.InRange(jpeg.Length, 1, Thumbnail.MaxBytes);
            using var image = Image.Load(jpeg);
            Assert.InRange(Math.Max(image.Width, image.Height), 16, Thumbnail.MaxSide);
        }
        // Links go to the original photos on disk; nothing is fetched from a server, no stylesheet or script file.
        Assert.All(Regex.Matches(html, "\\shref=\"([^\"]*)\"").Select(m => m.Groups[1].Value), href => Assert.StartsWith("file:///", href));
        Assert.DoesNotContain("<link", html);
        Assert.DoesNotContain("<script src", html);
        Assert.DoesNotContain("http://", html);
        Assert.DoesNotContain("https://", html);

        // Provenance: the index and backbone the run used, and each config section.
        var ingest = JsonNode.Parse(File.ReadAllText(Path.Combine(run.ReportsDir, "ingest.json")))!;
        Assert.Contains(ingest["index_hash"]!.GetValue<string>(), html);
        Assert.Contains(run.Report["backbone"]!["fingerprint"]!.GetValue<string>(), html);
        Assert.Contains("steps: 10", html);
        Assert.Contains("<svg viewBox=", html); // the learning curve
    }

    [Fact]
    public void Scoring_a_folder_writes_the_same_page_beside_its_json_and_never_replaces_a_file_it_did_not_write()
    {
        using var outDir = new TempDir();
        var scored = StageProcess.Run("Evaluate", "--config", run.ConfigPath, "--data", run.Data, "--out", outDir["scored.json"]);
        Assert.True(scored.ExitCode == 0, scored.Output);
        var json = JsonNode.Parse(File.ReadAllText(outDir["scored.json"]))!;
        var html = File.ReadAllText(outDir["scored.html"]);
        Assert.Equal(80, json["accuracy"]!["images"]!.GetValue<int>());
        Assert.Equal(json["misclassified"]!.AsArray().Count, Regex.Count(html, "<figure data-t="));
        Assert.Contains("content hash", html);

        File.WriteAllText(outDir["notes.html"], "<p>my own notes</p>");
        var refused = StageProcess.Run("Evaluate", "--config", run.ConfigPath, "--data", run.Data, "--out", outDir["notes.json"]);
        Assert.Equal(3, refused.ExitCode);
        Assert.Contains($"evaluate --data: error: {outDir["notes.html"]} exists and was not written by Evaluate", refused.StdErr);
        Assert.Equal("<p>my own notes</p>", File.ReadAllText(outDir["notes.html"]));
        Assert.False(File.Exists(outDir["notes.json"]));

        // Its own page from an earlier run is simply replaced.
        var again = StageProcess.Run("Evaluate", "--config", run.ConfigPath, "--data", run.Data, "--out", outDir["scored.json"]);
        Assert.True(again.ExitCode == 0, again.Output);
    }

    [ChromiumFact]
    public async Task In_Chromium_every_mistake_shows_its_decoded_photo_and_a_click_on_a_confusion_count_filters_them()
    {
        var mistakes = run.Misclassified
            .Select(m => (Path: m!["path"]!.GetValue<string>(), True: m["true_label"]!.GetValue<string>(), Predicted: m["predicted_label"]!.GetValue<string>()))
            .ToList();
        var started = Stopwatch.StartNew();
        await using var browser = await Chromium.StartAsync(width: 1100, height: 900);
        output.WriteLine($"Chromium started in {started.ElapsedMilliseconds} ms");
        var page = await browser.OpenPageAsync(run.PagePath);
        output.WriteLine($"page loaded in {await page.EvaluateExpressionAsync<double>("performance.getEntriesByType('navigation')[0].loadEventEnd"):0} ms");

        // 1. As many pictures as evaluation.json lists mistakes, every one decoded by the browser.
        Assert.Equal(mistakes.Count, await page.EvaluateExpressionAsync<int>("document.querySelectorAll('#gallery figure').length"));
        var widths = await page.EvaluateExpressionAsync<int[]>(
            "Promise.all([...document.querySelectorAll('#gallery img')].map(i => i.decode().then(() => i.naturalWidth, () => 0)))");
        Assert.Equal(mistakes.Count, widths.Length);
        Assert.All(widths, w => Assert.InRange(w, 1, Thumbnail.MaxSide));
        Assert.Equal(0, await page.EvaluateExpressionAsync<int>("[...document.images].filter(i => !i.complete || i.naturalWidth === 0).length"));
        Assert.Equal(0, await page.EvaluateExpressionAsync<int>("performance.getEntriesByType('resource').length")); // nothing fetched
        await Chromium.ScreenshotAsync(page, "evaluation-page");

        // The learning curve, ScottPlot's SVG inline: laid out at the page's width with its lines and text drawn, no script in it.
        var curve = await page.EvaluateExpressionAsync<double[]>("""
            (() => {
              const svg = document.querySelector('figure.learning svg'), box = svg.getBoundingClientRect();
              const drawn = [...svg.querySelectorAll('path')].filter(p => p.getTotalLength() > 0).length;
              const texts = [...svg.querySelectorAll('text')].filter(t => t.getComputedTextLength() > 0).length;
              return [box.width, box.height, drawn, texts, document.querySelectorAll('figure.learning script').length];
            })()
            """);
        Assert.InRange(curve[0], 400, 660);
        Assert.InRange(curve[1], 0.55 * curve[0], 0.57 * curve[0]); // 640 by 360, scaled
        Assert.True(curve[2] > 10, $"{curve[2]} lines drawn");
        Assert.True(curve[3] > 10, $"{curve[3]} texts laid out");
        Assert.Equal(0, curve[4]);
        await Chromium.ScreenshotAsync(page, "evaluation-curve", "figure.curve");
        Assert.Empty(browser.Errors); // nothing the Content-Security-Policy refused, no script error

        // 2. A click on a confusion count shows that pair's mistakes only. The pair is one whose row and column
        // both hold other mistakes, so a filter on the true or the predicted class alone would show too many.
        var labels = run.Report["confusion_matrix"]!["labels"]!.AsArray().Select(l => l!.GetValue<string>()).ToList();
        var pair = mistakes.GroupBy(m => (m.True, m.Predicted))
            .OrderByDescending(g => mistakes.Any(m => m.True == g.Key.True && m.Predicted != g.Key.Predicted))
            .ThenByDescending(g => mistakes.Any(m => m.Predicted == g.Key.Predicted && m.True != g.Key.True))
            .ThenByDescending(g => g.Count()).First();
        Assert.True(mistakes.Any(m => m.True == pair.Key.True && m.Predicted != pair.Key.Predicted) &&
                    mistakes.Any(m => m.Predicted == pair.Key.Predicted && m.True != pair.Key.True),
            "the run's mistakes should include a pair that shares its row and its column with other mistakes");
        var (t, p) = (labels.IndexOf(pair.Key.True), labels.IndexOf(pair.Key.Predicted));
        var cell = $"#confusion button[data-t=\"{t}\"][data-p=\"{p}\"]";
        await page.ClickAsync(cell); // scrolled into view, then a mouse press and release at its centre
        var shown = await VisibleFigures(page);
        Assert.Equal(pair.Select(m => m.Path).Order(StringComparer.Ordinal), shown.Select(f => f.Path).Order(StringComparer.Ordinal));
        Assert.All(shown, f => Assert.Equal($"{t}/{p}", f.Pair));
        var status = await page.EvaluateExpressionAsync<string>("document.getElementById('filter-status').textContent");
        Assert.Contains($"{pair.Count()} of {mistakes.Count}", status);
        await Chromium.ScreenshotAsync(page, "evaluation-page-filtered");

        await page.ClickAsync(cell); // the same count again shows every mistake
        Assert.Equal(mistakes.Count, (await VisibleFigures(page)).Count);

        // 3. Readable in a narrow window: nothing wider than the window but the tables, which scroll inside.
        await page.SetViewportAsync(new ViewPortOptions { Width = 360, Height = 740 });
        Assert.True(await page.EvaluateExpressionAsync<bool>("document.documentElement.scrollWidth <= window.innerWidth"),
            $"the page is {await page.EvaluateExpressionAsync<int>("document.documentElement.scrollWidth")} px wide in a 360 px window");
        // The curve shrinks to the window as a whole, its drawing scaled with its box rather than cut off.
        var narrow = await page.EvaluateExpressionAsync<double[]>(
            "(svg => [svg.getBoundingClientRect().width, svg.getBoundingClientRect().height, svg.getScreenCTM().a])" +
            "(document.querySelector('figure.learning svg'))");
        Assert.InRange(narrow[0], 200, 360);
        Assert.InRange(narrow[1], 0.55 * narrow[0], 0.57 * narrow[0]);
        Assert.InRange(narrow[2], 0.99 * narrow[0] / 640, 1.01 * narrow[0] / 640);
        await Chromium.ScreenshotAsync(page, "evaluation-page-narrow");
        await Chromium.ScreenshotAsync(page, "evaluation-curve-narrow", "figure.learning svg");
        output.WriteLine($"screenshots in {Chromium.ScreenshotDir}");
    }

    /// <summary>The gallery's figures the browser lays out (not display:none), by image path and true/predicted pair.</summary>
    private static async Task<List<(string Path, string Pair)>> VisibleFigures(IPage page) =>
        [.. (await page.EvaluateExpressionAsync<string[][]>("""
                [...document.querySelectorAll('#gallery figure')].filter(f => f.offsetParent !== null)
                    .map(f => [f.querySelector('img').alt, f.dataset.t + '/' + f.dataset.p])
                """)).Select(f => (f[0], f[1]))];
}
