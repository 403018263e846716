using System.Text.RegularExpressions;
using BottleneckPipeline.Config;
using BottleneckPipeline.Evaluate;
using BottleneckPipeline.Evaluate.Html;
using BottleneckPipeline.Head;
using BottleneckPipeline.Metrics;
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
    public void The_learning_curve_draws_what_was_measured_and_marks_the_kept_step()
    {
        TrainingLogRow[] withValidation = [new(50, 1.2, 0.5, 1.3, 0.45), new(100, 0.6, 0.8, 0.7, 0.75)];
        var svg = LearningCurveSvg.Draw(withValidation, bestStep: 100);
        Assert.Equal(4, Regex.Count(svg, "<polyline"));
        Assert.Contains("kept checkpoint, step 100", svg);
        Assert.Contains(">2<", svg); // the loss axis ends at a round 2 above the largest loss, 1.3

        TrainingLogRow[] trainOnly = [new(50, 1.2, 0.5, double.NaN, double.NaN), new(100, 0.6, 0.8, double.NaN, double.NaN)];
        var trainSvg = LearningCurveSvg.Draw(trainOnly, bestStep: 100);
        Assert.Equal(2, Regex.Count(trainSvg, "<polyline"));
        Assert.DoesNotContain("validation", trainSvg);

        Assert.Equal([1, 2, 2.5, 5, 10, 0.5, 1], new[] { 0.9, 1.5, 2.1, 4, 6, 0.31, 0 }.Select(LearningCurveSvg.NiceCeiling));
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
        Assert.Contains("<tr><th scope=\"row\">accuracy</th><td>80.0% (8 of 10; 95% CI 49.0-94.3%)</td><td>90.0% (9 of 10; 95% CI 59.6-98.2%)</td></tr>", both);
        Assert.Contains("<tr><th scope=\"row\">macro F1</th><td>0.792</td><td>0.899</td></tr>", both);
        Assert.Equal(2, Regex.Count(both, "<svg"));
    }

    [Fact]
    public void Provenance_shows_each_config_section_as_pipeline_yaml_spells_it()
    {
        var config = ConfigLoader.Parse("dataset:\n  root: /data/flowers\nextract:\n  resize: center-crop\nbackbone:\n  mean: [0.5, 0.25, 0.125]\n", "/work/p.yaml");
        var sections = RunProvenance.For(config, new DatasetIdentity("/data/flowers", "index hash", "i"), DateTimeOffset.UnixEpoch).Sections.ToDictionary(s => s.Name);
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
        return EvaluationReport.Create("test split", model, metrics, mistakes, new BackboneReport("resnet18", "fp"), new HeadReport("head.msgpack", "h", 100, 0.75));
    }
}
