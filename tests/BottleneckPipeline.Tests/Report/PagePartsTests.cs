using System.Text.RegularExpressions;
using System.Xml.Linq;
using BottleneckPipeline.Config;
using BottleneckPipeline.Evaluate;
using BottleneckPipeline.Evaluate.Html;
using BottleneckPipeline.Head;
using BottleneckPipeline.Metrics;
using BottleneckPipeline.Reporting;
using BottleneckPipeline.Tests.Fixtures;
using ScottPlot.Plottables;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;

namespace BottleneckPipeline.Tests.Report;

public class PagePartsTests
{
    [Fact]
    public void A_thumbnail_of_pure_noise_still_fits_its_byte_budget_and_a_small_image_is_not_enlarged()
    {
        // Noise is the worst case for JPEG: at 128 px and quality 80 it is several times the budget.
        var random = new Random(7);
        using var noise = new Image<Rgb24>(1000, 800);
        noise.ProcessPixelRows(rows =>
        {
            for (var y = 0; y < rows.Height; y++)
                foreach (ref var px in rows.GetRowSpan(y)) px = new Rgb24((byte)random.Next(256), (byte)random.Next(256), (byte)random.Next(256));
        });
        var thumbnail = Thumbnail.Of(noise);
        Assert.InRange(thumbnail.Jpeg.Length, 1, Thumbnail.MaxBytes);
        Assert.InRange(Math.Abs(0.8 * thumbnail.Width - thumbnail.Height), 0, 1); // the aspect ratio is kept, within rounding
        using (var decoded = Image.Load(thumbnail.Jpeg)) Assert.Equal((thumbnail.Width, thumbnail.Height), (decoded.Width, decoded.Height));
        Assert.Equal(thumbnail.Jpeg, Thumbnail.Of(noise).Jpeg); // same pixels, same bytes

        using var small = new Image<Rgb24>(40, 30, new Rgb24(200, 30, 30));
        Assert.Equal((40, 30), (Thumbnail.Of(small).Width, Thumbnail.Of(small).Height));
    }

    [Fact]
    public void A_photo_that_cannot_be_read_gets_a_reason_instead_of_a_thumbnail()
    {
        using var dir = new TempDir();
        Assert.Equal((null, "file not found"), Thumbnail.FromFile(dir["gone.jpg"], 50_000_000));
        File.WriteAllText(dir["text.jpg"], "not a photo");
        var (thumbnail, error) = Thumbnail.FromFile(dir["text.jpg"], 50_000_000);
        Assert.Null(thumbnail);
        Assert.Contains("not a recognised image format", error);
    }

    [Fact]
    public void The_template_is_filled_in_one_pass_and_a_missing_or_extra_slot_is_a_bug()
    {
        Assert.Equal("<b>{{x}}</b> and <b>{{x}}</b>", HtmlTemplate.Fill("<b>{{a}}</b> and <b>{{a}}</b>", new Dictionary<string, string> { ["a"] = "{{x}}" }));
        Assert.Throws<InvalidOperationException>(() => HtmlTemplate.Fill("{{a}} {{b}}", new Dictionary<string, string> { ["a"] = "" }));
        Assert.Throws<InvalidOperationException>(() => HtmlTemplate.Fill("{{a}}", new Dictionary<string, string> { ["a"] = "", ["b"] = "" }));
    }

    [Fact]
    public void The_learning_curve_plots_what_was_measured_and_marks_the_kept_step()
    {
        TrainingLogRow[] withValidation = [new(50, 1.2, 0.5, 1.3, 0.45), new(100, 0.6, 0.8, 0.7, 0.75)];
        var plot = LearningCurvePlot.Build(withValidation, bestStep: 100);
        var series = plot.GetPlottables<Scatter>().ToList();
        Assert.Equal(["train loss", "validation loss", "train accuracy", "validation accuracy"], series.Select(s => s.LegendText));
        Assert.Equal([1.3, 0.7], series[1].Data.GetScatterPoints().Select(p => p.Y));
        Assert.Equal([50.0, 100], series[3].Data.GetScatterPoints().Select(p => p.X));
        Assert.All(series.Skip(2), s => Assert.Same(plot.Axes.Right, s.Axes.YAxis)); // accuracy on the right axis
        Assert.Equal(100, Assert.Single(plot.GetPlottables<VerticalLine>()).X);

        TrainingLogRow[] trainOnly = [new(50, 1.2, 0.5, double.NaN, double.NaN), new(100, 0.6, 0.8, double.NaN, double.NaN)];
        Assert.Equal(["train loss", "train accuracy"], LearningCurvePlot.Build(trainOnly, bestStep: 100).GetPlottables<Scatter>().Select(s => s.LegendText));
        Assert.DoesNotContain("validation", LearningCurvePlot.Svg(trainOnly, bestStep: 100));

        using var dir = new TempDir();
        LearningCurvePlot.SavePng(dir["curve.png"], withValidation, bestStep: 100);
        using (var png = Image.Load(dir["curve.png"])) Assert.Equal((900, 500), (png.Width, png.Height));
    }

    [Fact]
    public void The_learning_curve_svg_is_an_element_to_inline_in_a_page_that_scales_and_holds_no_script()
    {
        var log = Enumerable.Range(1, 40).Select(i => new TrainingLogRow(50 * i, 2.0 / i, 1 - 0.5 / i, 2.2 / i, 1 - 0.6 / i)).ToList();
        var svg = LearningCurvePlot.Svg(log, bestStep: 1500);
        Assert.StartsWith("<svg viewBox=\"0 0 640 360\" role=\"img\" aria-label=", svg);
        Assert.EndsWith("</svg>", svg);
        Assert.InRange(svg.Length, 1, 60_000); // TrainHead's default log, 40 rows: about 40 kB

        var root = XElement.Parse(svg); // well-formed, and no namespace needed inside HTML
        Assert.Equal("svg", root.Name.LocalName);
        var texts = root.Descendants().Where(e => e.Name.LocalName == "text").Select(e => e.Value.Trim()).ToList();
        Assert.Contains("kept checkpoint (step 1500)", texts);
        Assert.Contains("validation accuracy", texts);
        Assert.Contains("cross-entropy loss", texts);
        // Nothing that runs or loads: no script or foreign content, no event handler, no link, no reference but to its own clip paths.
        Assert.DoesNotContain(root.DescendantsAndSelf(), e => e.Name.LocalName is "script" or "foreignObject" or "image" or "a" or "use");
        var attributes = root.DescendantsAndSelf().SelectMany(e => e.Attributes()).ToList();
        Assert.DoesNotContain(attributes, a => a.Name.LocalName.StartsWith("on", StringComparison.OrdinalIgnoreCase) || a.Name.LocalName == "href");
        Assert.All(Regex.Matches(svg, "url\\(([^)]*)\\)"), m => Assert.Matches("^#[A-Za-z0-9_-]+$", m.Groups[1].Value));
        Assert.DoesNotContain("http", svg);
    }

    [Fact]
    public void With_a_second_result_the_page_sets_the_shipped_model_and_the_other_side_by_side()
    {
        using var dir = new TempDir();
        var headOnly = Report(correct: 8);
        var fineTuned = Report(correct: 9, model: "fine-tuned");
        TrainingLogRow[] log = [new(50, 1.2, 0.5, 1.3, 0.45), new(100, 0.6, 0.8, 0.7, 0.75)];
        var config = new PipelineConfig { Workspace = dir.Path };
        var sources = new PageSources("test split", dir.Path, config.Dataset.MaxPixels, log, dir["training_log.csv"],
            RunProvenance.For(config, new DatasetIdentity(dir.Path, "index hash", "i"), DateTimeOffset.UnixEpoch));

        var alone = EvaluationPage.Render(headOnly, sources);
        Assert.Contains("<h2>Learning curve</h2>", alone);
        Assert.Equal(1, Regex.Count(alone, "<svg"));

        var both = EvaluationPage.Render(headOnly, sources with { Compared = new ComparedResult("fine-tuned", fineTuned, log) });
        Assert.Contains("<h2><bdi>head only</bdi> (shipped) against <bdi>fine-tuned</bdi></h2>", both);
        var ids = Regex.Matches(both, " id=\"([^\"]*)\"").Select(m => m.Groups[1].Value).ToList();
        Assert.Equal(ids.Count, ids.Distinct().Count()); // two curves' clip paths never share an id
        Assert.Contains("<tr><th scope=\"row\">accuracy</th><td>80.0% (8 of 10; 95% CI 49.0-94.3%)</td><td>90.0% (9 of 10; 95% CI 59.6-98.2%)</td></tr>", both);
        Assert.Contains("<tr><th scope=\"row\">macro F1</th><td>0.792</td><td>0.899</td></tr>", both);
        Assert.Equal(2, Regex.Count(both, "<svg"));
    }

    [Fact]
    public void Provenance_shows_each_config_section_as_pipeline_yaml_spells_it()
    {
        var config = ConfigLoader.Parse("dataset:\n  root: /data/flowers\nextract:\n  resize: center-crop\nbackbone:\n  mean: [0.5, 0.25, 0.125]\n",
            "/work/p.yaml");
        var sections = RunProvenance.For(config, new DatasetIdentity("/data/flowers", "index hash", "i"), DateTimeOffset.UnixEpoch).Sections
            .ToDictionary(s => s.Name);
        Assert.Equal(["dataset", "workspace", "cache", "backbone", "extract", "train_head", "evaluate", "fine_tune"], sections.Keys.ToArray());
        Assert.Contains("augment: {flip: true, crop_scale: [0.5, 1], views: 4}", sections["fine_tune"].Values);
        Assert.Contains("resize: center-crop", sections["extract"].Values);
        Assert.Contains("mean: [0.5, 0.25, 0.125]", sections["backbone"].Values);
        Assert.Contains("group_pattern: null", sections["dataset"].Values);
        Assert.Equal("/work/workspace", sections["workspace"].Values);
        Assert.Equal(config.SectionHashes["extract"], sections["extract"].Hash);
    }

    /// <summary>Ten images of two classes with the given number right, all mistakes daisy taken for roses.</summary>
    private static EvaluationReport Report(int correct, string model = "head only")
    {
        int[][] confusion = [[5 - (10 - correct), 10 - correct], [0, 5]];
        var metrics = ClassificationMetrics.FromConfusion(confusion, ["daisy", "roses"], 1, correct);
        var mistakes = Enumerable.Range(0, 10 - correct)
            .Select(i => new Misclassification($"daisy/{i}.jpg", "daisy", "roses", 0.9, [new("roses", 0.9)])).ToArray();
        return EvaluationReport.Create("test split", model, metrics, mistakes, new BackboneReport("resnet18", "fp"),
            new HeadReport("head.msgpack", "h", 100, 0.75));
    }
}
