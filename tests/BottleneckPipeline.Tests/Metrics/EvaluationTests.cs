using System.Text.Json;
using BottleneckPipeline.Config;
using BottleneckPipeline.Evaluate;
using BottleneckPipeline.Head;
using BottleneckPipeline.Runtime;
using BottleneckPipeline.Tests.Head;
using SixLabors.ImageSharp;
using BottleneckPipeline.Evaluate.Export;
using BottleneckPipeline.TrainHead;

namespace BottleneckPipeline.Tests.Metrics;

public class EvaluationTests
{
    [Fact]
    public void Evaluate_writes_json_markdown_and_confusion_png()
    {
        using var dir = new TempDir();
        // Overlapping clusters so some test images are wrong and the report has something to list.
        var centres = SyntheticVectors.Centres(4, 8, 0.6, 31);
        var train = SyntheticVectors.Sample(centres, 50, 1.0, 32);
        var test = SyntheticVectors.Sample(centres, 25, 1.0, 33, "test");
        var result = HeadTrainer.Train(train, null, new TrainHeadConfig { Steps = 200, EvalInterval = 50 });
        var artifact = HeadTrainingRun.ToArtifact(result, new TrainHeadConfig(), "resnet18", "fp-1", "hash-1");

        var (report, probabilities) = HeadEvaluation.Evaluate(artifact, dir["head.msgpack"], test, topK: 2);
        report.Export = new ExportReport(dir["model.onnx"], 100, 1.0, 3e-6, true, 0.999, 1e-4);
        var page = new PageSources("test split", dir["images"], 50_000_000, null, dir["training_log.csv"],
            RunProvenance.For(new PipelineConfig(), new DatasetIdentity(dir["images"], "index hash", "index-1"), DateTimeOffset.UnixEpoch));
        EvaluationWriter.Write(dir["reports"], report, page);

        Assert.Equal(100, report.TestImages);
        Assert.Equal(SyntheticVectors.Accuracy(artifact.Head, test), report.TestAccuracy, 12);
        Assert.InRange(report.TestAccuracy, 0.3, 0.99);
        Assert.True(report.TopKAccuracy >= report.TestAccuracy);
        Assert.Equal(100 - (int)Math.Round(report.TestAccuracy * 100), report.Misclassified.Length);
        Assert.Equal(100, probabilities.Length);

        using var json = JsonDocument.Parse(File.ReadAllText(dir["reports/evaluation.json"]));
        var root = json.RootElement;
        Assert.Equal(report.TestAccuracy, root.GetProperty("test_accuracy").GetDouble());
        Assert.Equal(100, root.GetProperty("test_images").GetInt32());
        Assert.Equal(4, root.GetProperty("per_class").GetArrayLength());
        Assert.Equal(25, root.GetProperty("per_class")[0].GetProperty("support").GetInt32());
        Assert.Equal(4, root.GetProperty("confusion_matrix").GetProperty("rows").GetArrayLength());
        Assert.Equal("fp-1", root.GetProperty("backbone").GetProperty("fingerprint").GetString());
        Assert.Equal("hash-1", root.GetProperty("head").GetProperty("inputs_hash").GetString());
        Assert.Equal(200, root.GetProperty("head").GetProperty("best_step").GetInt32());
        Assert.Equal(1.0, root.GetProperty("export").GetProperty("argmax_agreement").GetDouble());
        Assert.True(root.GetProperty("misclassified")[0].TryGetProperty("predicted_label", out _));
        Assert.Equal(report.Misclassified, EvaluationReport.FromJson(File.ReadAllText(dir["reports/evaluation.json"])).Misclassified);

        var md = File.ReadAllText(dir["reports/evaluation.md"]);
        Assert.Contains("| class0 |", md);
        Assert.Contains("Test accuracy", md);
        Assert.Contains("matches the cached path", md);

        var html = File.ReadAllText(dir["reports/evaluation.html"]);
        Assert.Equal(report.Misclassified.Length, html.Split("<figure data-t=").Length - 1);
        Assert.Contains("evaluation.html", md);

        using var png = Image.Load(dir["reports/confusion_matrix.png"]);
        Assert.True(png.Width > 300);
    }

    [Fact]
    public void Prediction_csv_lists_top_k_labels_and_probabilities()
    {
        using var dir = new TempDir();
        PredictionWriter.Write(dir["p.csv"], ["a/1.jpg", "b,\"odd\".jpg"], [[0.1f, 0.7f, 0.2f], [0.5f, 0.25f, 0.25f]], ["cat", "dog", "fox"], 2);
        Assert.Equal(
            ["path,label_1,probability_1,label_2,probability_2", "a/1.jpg,dog,0.7,fox,0.2", "\"b,\"\"odd\"\".jpg\",cat,0.5,dog,0.25"],
            File.ReadAllLines(dir["p.csv"]));
    }

    [Fact]
    public void Unknown_labels_are_listed_in_the_error()
    {
        var e = Assert.Throws<InputException>(() =>
            LabelCheck.EnsureKnown(["roses", "cacti", "tulips", "ferns", "cacti"], ["daisy", "roses", "tulips"], "/data/new", "/w/head.msgpack"));
        Assert.Contains("cacti, ferns", e.Message);
        Assert.Contains("/data/new", e.Message);
        Assert.DoesNotContain("roses,", e.Message.Split("knows:")[0]);
        Assert.Equal(ExitCodes.BadInput, e.ExitCode);
        LabelCheck.EnsureKnown(["roses"], ["daisy", "roses"], "/d", "/h");
        Assert.Equal([1, 0, 1], LabelCheck.ToHeadIndices(["roses", "daisy", "roses"], ["daisy", "roses"], "/d", "/h"));
        Assert.Throws<InputException>(() => LabelCheck.ToHeadIndices(["roses", "cacti"], ["daisy", "roses"], "/d", "/h"));
    }
}
