using System.Text.Json.Nodes;
using BottleneckPipeline.Config;
using BottleneckPipeline.Evaluate;
using BottleneckPipeline.Extract;
using BottleneckPipeline.Head;
using BottleneckPipeline.Index;
using BottleneckPipeline.Ingest;
using BottleneckPipeline.Runtime;
using BottleneckPipeline.Tests.Extract;
using BottleneckPipeline.Cache;
using BottleneckPipeline.TrainHead;

namespace BottleneckPipeline.Tests.Pipeline;

/// <summary>Ingest, Extract, TrainHead and Evaluate on 30 real flowers, once for the whole class.</summary>
public sealed class SmallPipeline : IDisposable
{
    public TempDir Dir { get; } = new();
    public string Data { get; }
    public PipelineConfig Config { get; }
    public EvaluationOutcome First { get; }

    public SmallPipeline()
    {
        Data = TestIndex.CopyFlowers(Dir["data"], classes: 3, perClass: 10);
        Config = TestIndex.Config(Dir["run"], Data);
        Config.Dataset.ValidationPercent = 25;
        Config.Dataset.TestPercent = 25;
        Config.TrainHead.Steps = 200;
        First = RunAll(Config);
    }

    public static EvaluationOutcome RunAll(PipelineConfig config)
    {
        using var db = IndexDb.Open(config.IndexPath);
        var ingest = Ingestor.Run(config.Dataset, db);
        IngestReport.Write(ingest, config.ReportsDir);
        ExtractStage.Run(config, db);
        TrainHeadStage.Run(config, db);
        return EvaluateStage.Run(config, db);
    }

    public void Dispose() => Dir.Dispose();
}

public class PipelineEndToEndTests(SmallPipeline run) : IClassFixture<SmallPipeline>
{
    [Fact]
    public void TheTestSplitIsEvaluatedAndTheExportAgrees()
    {
        var report = run.First.Report!;
        using var db = IndexDb.Open(run.Config.IndexPath, create: false);
        var testExamples = Convert.ToInt32(db.Scalar("SELECT count(*) FROM examples WHERE split = 'test' AND conflict = 0;"));
        Assert.True(testExamples > 0);
        Assert.Equal(testExamples, report.TestImages);
        Assert.InRange(report.TestAccuracy, 0, 1);
        Assert.Equal(3, report.ConfusionMatrix.Labels.Length);
        Assert.Equal(testExamples, report.ConfusionMatrix.Rows.Sum(r => r.Sum()));
        Assert.True(report.Export!.Passed);
        var json = JsonNode.Parse(File.ReadAllText(Path.Combine(run.Config.ReportsDir, "evaluation.json")))!;
        foreach (var key in new[] { "test_accuracy", "test_images", "per_class", "confusion_matrix", "backbone", "head" })
            Assert.NotNull(json[key]);
        Assert.True(File.Exists(Path.Combine(run.Config.ReportsDir, "evaluation.md")));
        Assert.True(File.Exists(Path.Combine(run.Config.ReportsDir, "confusion_matrix.png")));
        Assert.True(File.Exists(Path.Combine(run.Config.Workspace, "model.onnx")));
    }

    [Fact]
    public void ARerunWithNothingChangedIsUpToDateWithTheSameAccuracy()
    {
        var again = SmallPipeline.RunAll(run.Config);
        Assert.True(again.UpToDate);
        Assert.Equal(run.First.Report!.TestAccuracy, again.Report!.TestAccuracy);
    }

    /// <summary>The fixture's config file with extra YAML appended, and the fixture's in-memory settings.</summary>
    private PipelineConfig Variant(TempDir dir, string extraYaml)
    {
        var path = dir["variant.yaml"];
        File.WriteAllText(path, File.ReadAllText(run.Config.SourcePath) + extraYaml);
        var config = ConfigLoader.Load(path);
        config.Dataset.ValidationPercent = run.Config.Dataset.ValidationPercent;
        config.Dataset.TestPercent = run.Config.Dataset.TestPercent;
        config.TrainHead.Steps = run.Config.TrainHead.Steps;
        return config;
    }

    [Theory]
    [InlineData("threads: 1")]
    [InlineData("sessions: 3")]
    [InlineData("decode_workers: 1")]
    [InlineData("batch_size: 3")]
    public void ASpeedSettingLeavesExtractTrainHeadAndEvaluateUpToDate(string setting)
    {
        using var dir = new TempDir();
        var config = Variant(dir, $"extract:\n  {setting}\n");
        var head = File.ReadAllBytes(HeadArtifact.PathIn(config));
        var model = File.ReadAllBytes(Path.Combine(config.Workspace, "model.onnx"));
        using (var db = IndexDb.Open(config.IndexPath))
        {
            Assert.True(ExtractStage.Run(config, db).UpToDate, $"{setting}: Extract re-ran");
            Assert.True(TrainHeadStage.Run(config, db).UpToDate, $"{setting}: TrainHead re-ran");
            Assert.True(EvaluateStage.Run(config, db).UpToDate, $"{setting}: Evaluate re-ran");
        }
        Assert.Equal(head, File.ReadAllBytes(HeadArtifact.PathIn(config)));
        Assert.Equal(model, File.ReadAllBytes(Path.Combine(config.Workspace, "model.onnx")));
    }

    [Fact]
    public void ASettingThatChangesTheVectorsMakesExtractRunAgain()
    {
        using var dir = new TempDir();
        var config = Variant(dir, "extract:\n  resize: center-crop\n  threads: 1\n");
        using var db = IndexDb.Open(config.IndexPath);
        Assert.Equal(ExtractReport.Read(run.Config).InputsHash, ExtractStage.InputsHash(run.Config, db));
        Assert.NotEqual(ExtractReport.Read(config).InputsHash, ExtractStage.InputsHash(config, db));
    }

    [Fact]
    public void AnotherLabelledFolderIsScoredWithTheSameReportShape()
    {
        using var other = new TempDir();
        // Renamed copies of known images plus nothing else: scored through the cache.
        foreach (var cls in Directory.GetDirectories(run.Data))
        {
            var target = Directory.CreateDirectory(Path.Combine(other.Path, Path.GetFileName(cls))).FullName;
            foreach (var f in Directory.GetFiles(cls).Take(2)) File.Copy(f, Path.Combine(target, "renamed " + Path.GetFileName(f)));
        }
        var outJson = other["scored.json"];
        var (report, skipped) = EvaluateStage.ScoreFolder(run.Config, other.Path, outJson);
        Assert.Empty(skipped);
        Assert.Equal(6, report.TestImages);
        var json = JsonNode.Parse(File.ReadAllText(outJson))!;
        Assert.Equal(6, json["test_images"]!.GetValue<int>());
        Assert.NotNull(json["confusion_matrix"]);
    }

    [Fact]
    public void UnknownLabelsInAnotherFolderAreListed()
    {
        using var other = new TempDir();
        var known = Directory.GetDirectories(run.Data).First();
        foreach (var name in new[] { "orchids", "cacti" })
        {
            var target = Directory.CreateDirectory(Path.Combine(other.Path, name)).FullName;
            File.Copy(Directory.GetFiles(known)[0], Path.Combine(target, "x.jpg"));
        }
        var e = Assert.Throws<InputException>(() => EvaluateStage.ScoreFolder(run.Config, other.Path, other["out.json"]));
        Assert.Contains("cacti, orchids", e.Message);
        Assert.False(File.Exists(other["out.json"]));
    }

    [Fact]
    public void PredictWritesTopKLabelsAndProbabilities()
    {
        using var other = new TempDir();
        var images = Directory.GetDirectories(run.Data).Select(d => Directory.GetFiles(d)[0]).ToList();
        foreach (var f in images) File.Copy(f, other[Path.GetFileName(f)]);
        File.WriteAllText(other["notes.txt"], "not an image");
        var csv = other["predictions.csv"];
        var (count, skipped) = EvaluateStage.Predict(run.Config, [other.Path], csv, topK: 2);
        Assert.Equal(3, count);
        Assert.Single(skipped);
        var lines = File.ReadAllLines(csv);
        Assert.Equal(4, lines.Length);
        var cells = lines[1].Split(',');
        Assert.Equal(5, cells.Length); // path, then label and probability twice
        var p1 = double.Parse(cells[2], System.Globalization.CultureInfo.InvariantCulture);
        var p2 = double.Parse(cells[4], System.Globalization.CultureInfo.InvariantCulture);
        Assert.True(p1 >= p2 && p1 <= 1 && p2 >= 0);
    }

    [Fact]
    public void PredictRefusesAFormatThatIngestRejects()
    {
        using var other = new TempDir();
        // A valid binary PPM (Netpbm): ImageSharp can decode it, but the pipeline does not take it.
        var ppm = other["photo.ppm"];
        File.WriteAllBytes(ppm, [.. "P6\n8 8\n255\n"u8, .. Enumerable.Repeat((byte)128, 8 * 8 * 3)]);
        Assert.NotNull(BottleneckPipeline.Imaging.ImageProbe.Probe(ppm, new FileInfo(ppm).Length, 50_000_000).RejectReason);
        var jpeg = other["flower.jpg"];
        File.Copy(Directory.GetFiles(Directory.GetDirectories(run.Data)[0])[0], jpeg);

        var (count, skipped) = EvaluateStage.Predict(run.Config, [ppm, jpeg], other["predictions.csv"], topK: 1);
        Assert.Equal(1, count);
        Assert.Contains(ppm, Assert.Single(skipped));
        Assert.DoesNotContain("photo.ppm", File.ReadAllText(other["predictions.csv"]));
    }

    [Fact]
    public void AHeadTrainedForOneBackboneRefusesACacheMadeByAnother()
    {
        var yaml = File.ReadAllText(run.Config.SourcePath);
        using var other = new TempDir();
        // Same workspace, another resize mode: another backbone fingerprint, so other vectors.
        var path = other["center-crop.yaml"];
        File.WriteAllText(path, yaml + "extract:\n  resize: center-crop\n");
        var config = ConfigLoader.Load(path);
        config.Workspace = run.Config.Workspace;
        config.Dataset.ValidationPercent = 25;
        config.Dataset.TestPercent = 25;
        using var db = IndexDb.Open(config.IndexPath);
        var fingerprintBefore = ExtractReport.Read(run.Config).Fingerprint;
        try
        {
            ExtractStage.Run(config, db);
            Assert.NotEqual(fingerprintBefore, ExtractReport.Read(config).Fingerprint);
            var e = Assert.Throws<InputException>(() => EvaluateStage.Run(config, db));
            Assert.Contains("TrainHead", e.Message);
        }
        finally
        {
            ExtractStage.Run(run.Config, db); // put the fixture's report back for the other tests
        }
    }
}
