using System.Text.RegularExpressions;
using BottleneckPipeline.Config;
using BottleneckPipeline.Evaluate;
using BottleneckPipeline.Metrics;
using BottleneckPipeline.Tests.Fixtures;
using PuppeteerSharp;
using Xunit.Abstractions;

namespace BottleneckPipeline.Tests.Report;

/// <summary>
/// The page of a report with 1000 misclassified images, each a different real flower photo (read
/// in place from the shared data, never copied): how large a page gets on a real dataset.
/// </summary>
public sealed class ThousandMistakesPage : IDisposable
{
    public const int Mistakes = 1000;
    public TempDir Dir { get; } = new();
    public string PagePath => Dir["evaluation.html"];

    public ThousandMistakesPage()
    {
        var labels = Directory.GetDirectories(RepoPaths.Flowers).Select(Path.GetFileName).Order(StringComparer.Ordinal).ToArray()!;
        var photos = labels.SelectMany(l => Directory.GetFiles(Path.Combine(RepoPaths.Flowers, l!), "*.jpg")
            .Order(StringComparer.Ordinal).Take(Mistakes / labels.Length)
            .Select(f => l + "/" + Path.GetFileName(f))).ToList();
        var confusion = labels.Select(_ => new int[labels.Length]).ToArray();
        var misclassified = photos.Select((path, i) =>
        {
            var t = Array.IndexOf(labels, path.Split('/')[0]);
            var p = (t + 1 + i % (labels.Length - 1)) % labels.Length;
            confusion[t][p]++;
            var confidence = 0.99 - 0.5 * i / photos.Count;
            return new Misclassification(path, labels[t]!, labels[p]!, confidence,
                [new(labels[p]!, confidence), new(labels[t]!, 0.9 * (1 - confidence)), new(labels[(p + 1) % labels.Length]!, 0.1 * (1 - confidence))]);
        }).ToArray();
        var metrics = ClassificationMetrics.FromConfusion(confusion, labels!, 3, photos.Count / 2);
        var report = EvaluationReport.Create("test split", "head only", metrics, misclassified, new BackboneReport("resnet18", "fp"),
            new HeadReport("head.msgpack", "h", 350, 0.83));
        var config = new PipelineConfig { Workspace = Dir.Path };
        var sources = new PageSources("a thousand mistakes", RepoPaths.Flowers, config.Dataset.MaxPixels, null, Dir["training_log.csv"],
            RunProvenance.For(config, new DatasetIdentity(RepoPaths.Flowers, "index hash", "i"), DateTimeOffset.UnixEpoch));
        EvaluationPage.Write(PagePath, report, sources);
    }

    public void Dispose() => Dir.Dispose();
}

public class ThousandMistakesPageTests(ThousandMistakesPage page, ITestOutputHelper output) : IClassFixture<ThousandMistakesPage>
{
    [Fact]
    public void A_page_of_a_thousand_misclassified_photos_stays_under_5_MB()
    {
        var html = File.ReadAllText(page.PagePath);
        Assert.Equal(ThousandMistakesPage.Mistakes, Regex.Count(html, "<img src=\"data:image/jpeg;base64,"));
        var bytes = new FileInfo(page.PagePath).Length;
        output.WriteLine($"{bytes / 1e6:0.00} MB, {bytes / ThousandMistakesPage.Mistakes} bytes per misclassified image");
        Assert.InRange(bytes, 1, 5_000_000);
    }

    [ChromiumFact]
    public async Task In_Chromium_all_thousand_photos_decode()
    {
        await using var browser = await Chromium.StartAsync();
        // Opened twice: a fresh browser's first page, then as a browser already running opens it. Printed, not asserted.
        IPage? tab = null;
        foreach (var time in new[] { "first", "again" })
        {
            var cpu = browser.CpuTime();
            if (tab is null) tab = await browser.OpenPageAsync(page.PagePath);
            else await Chromium.OpenAsync(tab, page.PagePath);
            var paint = await tab.EvaluateExpressionAsync<double>("performance.getEntriesByName('first-contentful-paint')[0]?.startTime ?? -1");
            var loaded = await tab.EvaluateExpressionAsync<double>("performance.getEntriesByType('navigation')[0].loadEventEnd");
            var used = browser.CpuTime() - cpu;
            output.WriteLine($"{time}: first paint at {paint:0} ms, loaded in {loaded:0} ms, {used.TotalMilliseconds:0} ms of browser CPU");
        }
        var decoded = await tab!.EvaluateExpressionAsync<int>(
            "Promise.all([...document.querySelectorAll('#gallery img')].map(i => i.decode().then(() => 1, () => 0))).then(r => r.reduce((a, b) => a + b, 0))");
        Assert.Equal(ThousandMistakesPage.Mistakes, decoded);
    }
}
