using System.Text.Json;
using BottleneckPipeline.Config;
using BottleneckPipeline.Evaluate;
using BottleneckPipeline.Evaluate.Export;
using BottleneckPipeline.Head;
using BottleneckPipeline.Runtime;
using BottleneckPipeline.Tests.Fixtures;
using BottleneckPipeline.TrainHead;
using BottleneckPipeline.Training;
using Google.Protobuf;
using Onnx;
using SixLabors.ImageSharp;

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

        var (report, probabilities) = HeadEvaluation.Evaluate(artifact, dir["head.msgpack"], test, topK: 2, "test split", "head only");
        EvaluationWriter.Write(dir["reports"], report, Page(dir));

        Assert.Equal(100, report.Images);
        Assert.Equal(SyntheticVectors.Accuracy(artifact.Head, test), report.Accuracy.Value, 12);
        Assert.InRange(report.Accuracy.Value, 0.3, 0.99);
        Assert.InRange(report.Accuracy.Value, report.Accuracy.Ci95Low, report.Accuracy.Ci95High);
        Assert.True(report.TopKAccuracy.Value >= report.Accuracy.Value);
        Assert.Equal(100 - report.Accuracy.Correct, report.Misclassified.Length);
        Assert.Equal(100, probabilities.Length);

        using var json = JsonDocument.Parse(File.ReadAllText(dir["reports/evaluation.json"]));
        var root = json.RootElement;
        var accuracy = root.GetProperty("accuracy");
        Assert.Equal(report.Accuracy.Value, accuracy.GetProperty("value").GetDouble());
        Assert.Equal(100, accuracy.GetProperty("images").GetInt32());
        Assert.Equal(report.Accuracy.Correct, accuracy.GetProperty("correct").GetInt32());
        Assert.Equal(report.Accuracy.Ci95Low, accuracy.GetProperty("ci95_low").GetDouble());
        Assert.Equal("test split", root.GetProperty("scored").GetString());
        Assert.Equal(4, root.GetProperty("per_class").GetArrayLength());
        Assert.Equal(25, root.GetProperty("per_class")[0].GetProperty("support").GetInt32());
        Assert.Equal(4, root.GetProperty("confusion_matrix").GetProperty("rows").GetArrayLength());
        Assert.Equal("fp-1", root.GetProperty("backbone").GetProperty("fingerprint").GetString());
        Assert.Equal("hash-1", root.GetProperty("head").GetProperty("inputs_hash").GetString());
        Assert.Equal(200, root.GetProperty("head").GetProperty("best_step").GetInt32());
        Assert.Equal(JsonValueKind.Null, root.GetProperty("export").ValueKind); // export off: no check to report
        Assert.True(root.GetProperty("misclassified")[0].TryGetProperty("predicted_label", out _));
        Assert.Equal(report.Misclassified, EvaluationReport.FromJson(File.ReadAllText(dir["reports/evaluation.json"])).Misclassified);

        var md = File.ReadAllText(dir["reports/evaluation.md"]);
        Assert.Contains("| `class0` |", md);
        Assert.Contains($"Accuracy: **{report.Accuracy}**", md);
        Assert.Contains($"of 100; 95% CI ", md);
        Assert.DoesNotContain("Export:", md);

        var html = File.ReadAllText(dir["reports/evaluation.html"]);
        Assert.Equal(report.Misclassified.Length, html.Split("<figure data-t=").Length - 1);
        Assert.Contains("evaluation.html", md);

        using var png = Image.Load(dir["reports/confusion_matrix.png"]);
        Assert.True(png.Width > 300);
    }

    /// <summary>
    /// The export verdict in the report comes from a real check: a real exported model (a tiny
    /// backbone, x/255 flattened, plus the head) run by ONNX Runtime against the cached path's
    /// probabilities, right ones or (for the failing case) the classes' probabilities reversed.
    /// </summary>
    [Theory]
    [InlineData(true, "matches")]
    [InlineData(false, "DOES NOT match")]
    public void The_export_check_verdict_is_written_as_it_came_out(bool agrees, string verdict)
    {
        using var dir = new TempDir();
        var test = SyntheticVectors.Sample(SyntheticVectors.Centres(3, 12, 3.0, 5), 4, 0.5, 6, "test");
        var result = HeadTrainer.Train(test, null, new TrainHeadConfig { Steps = 50, EvalInterval = 10 });
        var artifact = HeadTrainingRun.ToArtifact(result, new TrainHeadConfig(), "custom", "fp", "h");
        var (report, probabilities) = HeadEvaluation.Evaluate(artifact, dir["head.msgpack"], test, topK: 1, "test split", "head only");

        var preprocessing = ExportPreprocessing.From(
            BottleneckPipeline.Imaging.Preprocessing.MeanStd(NormalizationPreset.Custom, [0, 0, 0], [1, 1, 1]), 2, TensorLayout.Nchw);
        HeadExporter.ExportToFile(dir["model.onnx"], FlattenBackbone(), "features", preprocessing, artifact.Head, new ExportProvenance("custom", "fp", "h"));
        var pixels = test.Rows.Select(v => v.Select(x => x * 255f).ToArray()).ToList(); // the backbone divides by 255 again
        var expected = agrees ? probabilities : [.. probabilities.Select(p => p.Reverse().ToArray())];
        report.Export = ExportChecker.Check(dir["model.onnx"], pixels, expected);
        EvaluationWriter.Write(dir["reports"], report, Page(dir));

        Assert.Equal(agrees, report.Export.Passed);
        var md = File.ReadAllLines(dir["reports/evaluation.md"]).Single(l => l.StartsWith("- Export:", StringComparison.Ordinal));
        Assert.Contains($": {verdict} the cached path on 12 images", md);
        using var json = JsonDocument.Parse(File.ReadAllText(dir["reports/evaluation.json"]));
        var export = json.RootElement.GetProperty("export");
        Assert.Equal(agrees, export.GetProperty("passed").GetBoolean());
        Assert.Equal(report.Export.ArgmaxAgreement, export.GetProperty("argmax_agreement").GetDouble());
        if (agrees) Assert.Equal(1.0, report.Export.ArgmaxAgreement);
        else Assert.True(report.Export.ArgmaxAgreement < 0.5, $"agreement {report.Export.ArgmaxAgreement} with reversed classes");
    }

    /// <summary>x [1,3,2,2] -> Flatten -> "features" [1,12]: a backbone whose bottleneck is its input.</summary>
    private static byte[] FlattenBackbone()
    {
        var model = new ModelProto { IrVersion = 7, Graph = new GraphProto { Name = "flatten" } };
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = 13 });
        var flatten = new NodeProto { OpType = "Flatten", Name = "flat" };
        flatten.Input.Add("x");
        flatten.Output.Add("features");
        model.Graph.Node.Add(flatten);
        model.Graph.Input.Add(Tensor("x", 1, 3, 2, 2));
        model.Graph.Output.Add(Tensor("features", 1, 12));
        return model.ToByteArray();
    }

    private static ValueInfoProto Tensor(string name, params long[] dims)
    {
        var shape = new TensorShapeProto();
        foreach (var d in dims) shape.Dim.Add(new TensorShapeProto.Types.Dimension { DimValue = d });
        return new ValueInfoProto { Name = name, Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = 1, Shape = shape } } };
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
    }

    /// <summary>What the HTML page draws on besides the report: no images on disk, no training log.</summary>
    private static PageSources Page(TempDir dir) => new("test split", dir["images"], 50_000_000, null, dir["training_log.csv"],
        RunProvenance.For(new PipelineConfig(), new DatasetIdentity(dir["images"], "index hash", "index-1"), DateTimeOffset.UnixEpoch));
}
