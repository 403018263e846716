using System.Text.Json.Nodes;
using BottleneckPipeline.Artifacts;
using BottleneckPipeline.Cache;
using BottleneckPipeline.Config;
using BottleneckPipeline.Evaluate;
using BottleneckPipeline.Extract;
using BottleneckPipeline.Head;
using BottleneckPipeline.Index;
using BottleneckPipeline.Runtime;
using BottleneckPipeline.Tests.Fixtures;
using BottleneckPipeline.TrainHead;

namespace BottleneckPipeline.Tests.Pipeline;

[Collection(SmallPipelineCollection.Name)]
public class PipelineEndToEndTests(SmallPipeline run)
{
    /// <summary>
    /// Chance is one in three. On these 21 test images a head that learned nothing (labels shuffled
    /// before training, vectors of other images) reaches 80% with a probability near 1e-5; the
    /// pretrained backbone gets 19 of 21 (90.5%). The split is drawn from the content, so always the same.
    /// </summary>
    private const double AccuracyFloor = 0.8;

    [Fact]
    public void The_report_is_the_heads_verdict_on_every_cached_test_vector()
    {
        var report = run.First.Report!;
        var head = run.Head();
        var cache = run.Cache();
        var test = run.TestExamples();
        Assert.True(test.Count >= 15, $"only {test.Count} test images"); // 40% of 60, drawn by content hash

        // Worked out here from the index, the cache and the head's weights: the confusion matrix,
        // the accuracy and the misclassified images the report must show.
        var labels = head.LabelNames.ToList();
        var expected = labels.Select(_ => new int[labels.Count]).ToArray();
        var wrong = new List<string>();
        foreach (var (id, cls, rel) in test)
        {
            var vector = cache.Get(id);
            Assert.True(vector is not null, $"no cached vector for test image {rel}");
            var predicted = ReferenceHead.Predicted(head, vector);
            expected[labels.IndexOf(cls)][predicted]++;
            if (labels[predicted] != cls) wrong.Add(rel);
        }
        var accuracy = (double)(test.Count - wrong.Count) / test.Count;

        Assert.Equal(head.LabelNames, report.ConfusionMatrix.Labels);
        Assert.Equal(expected, report.ConfusionMatrix.Rows);
        Assert.Equal(test.Count, report.Images);
        Assert.Equal(accuracy, report.Accuracy.Value, 12);
        Assert.Equal(wrong.Order(StringComparer.Ordinal), report.Misclassified.Select(m => m.Path).Order(StringComparer.Ordinal));
        Assert.True(accuracy >= AccuracyFloor, $"test accuracy {accuracy:P1} is below {AccuracyFloor:P0}: the head learned little");

        // The files say the same as the returned report.
        var json = JsonNode.Parse(File.ReadAllText(Path.Combine(run.Config.ReportsDir, "evaluation.json")))!;
        Assert.Equal(accuracy, json["accuracy"]!["value"]!.GetValue<double>(), 12);
        Assert.Equal(test.Count, json["accuracy"]!["images"]!.GetValue<int>());
        Assert.Equal("head only", json["shipped"]!["model"]!.GetValue<string>());
        Assert.Contains($"Accuracy: **{report.Accuracy}**", File.ReadAllText(Path.Combine(run.Config.ReportsDir, "evaluation.md")), StringComparison.Ordinal);
        Assert.True(File.Exists(Path.Combine(run.Config.ReportsDir, "confusion_matrix.png")));

        // The exported model was run on every test image and agreed with the cached path.
        var export = report.Export!;
        Assert.Equal(test.Count, export.Images);
        Assert.True(export.Passed, $"agreement {export.ArgmaxAgreement}, max diff {export.MaxAbsProbabilityDifference}");
        Assert.True(File.Exists(Path.Combine(run.Config.Workspace, "model.onnx")));
    }

    [Fact]
    public void A_rerun_with_nothing_changed_is_up_to_date_and_rewrites_nothing()
    {
        // (Ingest re-scans and rewrites its report on every run; what depends on it must not move.)
        string[] outputs = ["reports/extract.json", "head.msgpack", "reports/training_log.csv", "reports/evaluation.json", "model.onnx"];
        var before = outputs.Select(o => Snapshot(Path.Combine(run.Config.Workspace, o))).ToList();
        var again = SmallPipeline.RunAll(ConfigLoader.Load(run.Config.SourcePath));
        Assert.True(again.UpToDate);
        Assert.Equal(before, outputs.Select(o => Snapshot(Path.Combine(run.Config.Workspace, o))));
    }

    /// <summary>The fixture's config file with extra YAML appended, written beside it so that it
    /// names the same workspace; loaded from the file, so its section hashes are the real ones.</summary>
    private PipelineConfig Variant(string name, string extraYaml)
    {
        var path = Path.Combine(Path.GetDirectoryName(run.Config.SourcePath)!, name + ".yaml");
        File.WriteAllText(path, File.ReadAllText(run.Config.SourcePath) + extraYaml);
        return ConfigLoader.Load(path);
    }

    [Theory]
    [InlineData("threads: 1")]
    [InlineData("sessions: 3")]
    [InlineData("decode_workers: 1")]
    [InlineData("batch_size: 3")]
    public void A_speed_setting_leaves_Extract_TrainHead_and_Evaluate_up_to_date(string setting)
    {
        var config = Variant("speed-setting", $"extract:\n  {setting}\n");
        var head = File.ReadAllBytes(ArtifactPaths.Head(config));
        var model = File.ReadAllBytes(Path.Combine(config.Workspace, "model.onnx"));
        using (var db = IndexDb.Open(config.IndexPath))
        {
            Assert.True(ExtractStage.Run(config, db).UpToDate, $"{setting}: Extract re-ran");
            Assert.True(TrainHeadStage.Run(config, db).UpToDate, $"{setting}: TrainHead re-ran");
            Assert.True(EvaluateStage.Run(config, db).UpToDate, $"{setting}: Evaluate re-ran");
        }
        Assert.Equal(head, File.ReadAllBytes(ArtifactPaths.Head(config)));
        Assert.Equal(model, File.ReadAllBytes(Path.Combine(config.Workspace, "model.onnx")));
    }

    [Fact]
    public void A_setting_that_changes_the_vectors_makes_Extract_run_again()
    {
        var config = Variant("resize-setting", "extract:\n  resize: center-crop\n  threads: 1\n");
        using var db = IndexDb.Open(config.IndexPath);
        Assert.Equal(ExtractReport.Read(run.Config).InputsHash, ExtractStage.InputsHash(run.Config, db));
        Assert.NotEqual(ExtractReport.Read(config).InputsHash, ExtractStage.InputsHash(config, db));
    }

    [Fact]
    public void Another_workspace_with_the_same_data_and_seed_trains_the_same_head_without_embedding_again()
    {
        using var other = new TempDir();
        var path = SmallPipeline.WriteConfig(other.Path, run.Data, more: $"cache:\n  dir: {run.Config.CacheDir}\nevaluate:\n  export: false\n");
        var config = ConfigLoader.Load(path);
        using (var db = IndexDb.Open(config.IndexPath))
        {
            BottleneckPipeline.Ingest.Ingestor.Run(config.Dataset, db);
            Assert.Equal(0, ExtractStage.Run(config, db).Extracted); // every image found in the shared cache by its content
        }
        var outcome = SmallPipeline.RunAll(config);

        var (a, b) = (run.Head(), HeadArtifact.Load(ArtifactPaths.Head(config)));
        Assert.Equal(a.LabelNames, b.LabelNames);
        Assert.True(a.Weights.AsSpan().SequenceEqual(b.Weights), "head weights differ");
        Assert.True(a.Bias.AsSpan().SequenceEqual(b.Bias), "head bias differs");
        Assert.Equal(run.First.Report!.ConfusionMatrix.Rows, outcome.Report!.ConfusionMatrix.Rows);
        Assert.Equal(run.First.Report.Misclassified, outcome.Report.Misclassified);
    }

    [Fact]
    public void Predict_refuses_a_format_that_Ingest_rejects()
    {
        using var other = new TempDir();
        // A valid binary PPM (Netpbm): ImageSharp can decode it, but the pipeline does not take it.
        var ppm = other["photo.ppm"];
        File.WriteAllBytes(ppm, [.. "P6\n8 8\n255\n"u8, .. Enumerable.Repeat((byte)128, 8 * 8 * 3)]);
        Assert.NotNull(BottleneckPipeline.Imaging.ImageProbe.Probe(ppm, new FileInfo(ppm).Length, 50_000_000).RejectReason);
        var jpeg = other["flower.jpg"];
        File.Copy(Directory.GetFiles(Directory.GetDirectories(run.Data)[0])[0], jpeg);

        using var model = BottleneckPipeline.Evaluate.Export.ExportedModel.Open(Path.Combine(run.Config.Workspace, "model.onnx"));
        var summary = Prediction.Run(model, [ppm, jpeg], other["predictions.csv"], PredictionFormat.Csv, topK: 1, run.Config.Dataset.MaxPixels);
        Assert.Equal(1, summary.Classified);
        Assert.Equal(1, summary.Skipped);
        var row = File.ReadAllLines(other["predictions.csv"]).Single(l => l.StartsWith(ppm, StringComparison.Ordinal));
        Assert.Contains(",skipped,", row, StringComparison.Ordinal);
    }

    [Fact]
    public void A_head_trained_for_one_backbone_refuses_a_cache_made_by_another()
    {
        // Same workspace, another resize mode: another backbone fingerprint, so other vectors.
        using var other = new TempDir();
        var path = SmallPipeline.WriteConfig(other.Path, run.Data, workspace: run.Config.Workspace, more: "extract:\n  resize: center-crop\n");
        var config = ConfigLoader.Load(path);
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

    private static string Snapshot(string path)
    {
        var info = new FileInfo(path);
        return $"{path} {info.Length} {info.LastWriteTimeUtc.Ticks} " +
               $"{Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(File.ReadAllBytes(path)))}";
    }
}
