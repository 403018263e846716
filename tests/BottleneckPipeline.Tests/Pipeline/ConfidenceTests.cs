using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using BottleneckPipeline.Confidence;
using BottleneckPipeline.Tests.Fixtures;
using Microsoft.ML.OnnxRuntime;

namespace BottleneckPipeline.Tests.Pipeline;

/// <summary>
/// The shipped model's confidence on the small pipeline: one temperature fitted on validation and applied inside
/// model.onnx, and the unknown rule, carried by the model as two outputs and a threshold in its metadata, so predict and
/// any other runtime answer "unknown" for renders of shapes, text and noise and keep the flowers.
/// </summary>
[Collection(SmallPipelineCollection.Name)]
public class ConfidenceTests(SmallPipeline run)
{
    private string ModelPath => Path.Combine(run.Config.Workspace, "model.onnx");

    [Fact]
    public void The_report_holds_the_temperature_the_calibration_error_before_and_after_and_the_unknown_threshold()
    {
        var json = JsonNode.Parse(File.ReadAllText(Path.Combine(run.Config.ReportsDir, "evaluation.json")))!;
        var temperature = json["temperature"]!.GetValue<double>();
        Assert.InRange(temperature, TemperatureScaling.MinTemperature, TemperatureScaling.MaxTemperature);
        Assert.InRange(json["ece_before"]!.GetValue<double>(), 0, 1);
        Assert.InRange(json["ece_after"]!.GetValue<double>(), 0, 1);
        var unknown = json["unknown"]!;
        Assert.Equal(RelativeMahalanobis.MethodName, unknown["method"]!.GetValue<string>());
        Assert.Equal(0.95, unknown["keep_share"]!.GetValue<double>());
        var threshold = unknown["threshold"]!.GetValue<double>();
        Assert.True(double.IsFinite(threshold));

        // The same figures in the model the report describes, and on the page with the reliability diagram.
        var model = Onnx.ModelProto.Parser.ParseFrom(File.ReadAllBytes(ModelPath));
        Assert.Equal(temperature, double.Parse(model.MetadataProps.Single(p => p.Key == "temperature").Value, CultureInfo.InvariantCulture));
        Assert.Equal(threshold, UnknownScoreGraph.ReadMetadata(model).Threshold);
        var page = File.ReadAllText(Path.Combine(run.Config.ReportsDir, "evaluation.html"));
        Assert.Contains("aria-label=\"reliability diagram", page, StringComparison.Ordinal);
        Assert.Contains(threshold.ToString("0.####", CultureInfo.InvariantCulture), page, StringComparison.Ordinal);
        Assert.Contains(json["export"]!["unknown_agreement"]!.GetValue<double>() >= 0.999 ? "agrees" : "DISAGREES", page, StringComparison.Ordinal);
    }

    [Fact]
    public void Model_onnx_gives_the_calibrated_probabilities()
    {
        var head = run.Head();
        var cache = run.Cache();
        var temperature = JsonNode.Parse(File.ReadAllText(Path.Combine(run.Config.ReportsDir, "evaluation.json")))!["temperature"]!.GetValue<double>();
        var files = run.TestExamples().Take(6).ToList();
        using var model = BottleneckPipeline.Evaluate.Export.ExportedModel.Open(ModelPath);
        var answers = model.Classify([.. files.Select(f => Path.Join(run.Data, f.RelPath))], run.Config.Dataset.MaxPixels);
        foreach (var ((id, _, rel), answer) in files.Zip(answers))
        {
            var expected = TemperatureScaling.Probabilities(TemperatureScaling.Logits(head.Head, cache.Get(id)!), temperature);
            for (var c = 0; c < expected.Length; c++)
                Assert.True(Math.Abs(expected[c] - answer.Probabilities![c]) < 1e-4, $"{rel} class {c}: {answer.Probabilities![c]} against {expected[c]}");
        }
    }

    [Fact]
    public void Predict_calls_most_renders_unknown_and_few_flowers_and_a_plain_runtime_applies_the_same_rule_from_the_metadata()
    {
        using var other = new TempDir();
        var folder = Directory.CreateDirectory(other["mixed"]).FullName;
        var renders = OodImages.Write(Path.Combine(folder, "renders"), count: 24, seed: 7);
        var flowers = new List<string>();
        foreach (var cls in Directory.GetDirectories(run.Data).Select(Path.GetFileName))
            foreach (var f in Directory.GetFiles(Path.Combine(RepoPaths.Flowers, cls!), "*.jpg")
                         .Order(StringComparer.Ordinal).Skip(SmallPipeline.PerClass).Take(8))
                flowers.Add(CopyTo(f, Path.Combine(folder, "flowers", cls!)));

        var r = StageProcess.Run("Evaluate", "predict", "--model", ModelPath, folder, "--out", other["p.csv"]);
        Assert.True(r.ExitCode == 0, r.Output);
        var rows = File.ReadAllLines(other["p.csv"]).Skip(1).Select(l => l.Split(',')).ToDictionary(c => c[0], c => c);
        double Share(IEnumerable<string> files) => files.Average(f => rows[f][1] == "unknown" ? 1.0 : 0.0);
        var (rendersFlagged, flowersFlagged) = (Share(renders), Share(flowers));
        Assert.True(rendersFlagged >= 0.75, $"only {rendersFlagged:P0} of the renders called unknown");
        Assert.True(flowersFlagged <= 0.25, $"{flowersFlagged:P0} of the flowers called unknown");

        // Another runtime needs nothing of ours: the two outputs, and the threshold in the metadata entry.
        using var session = new InferenceSession(ModelPath);
        var entry = session.ModelMetadata.CustomMetadataMap[UnknownScoreGraph.MetadataKey];
        var threshold = JsonDocument.Parse(entry).RootElement.GetProperty("threshold").GetDouble();
        using var model = BottleneckPipeline.Evaluate.Export.ExportedModel.Open(ModelPath);
        var size = model.Metadata.InputSize;
        foreach (var file in renders.Concat(flowers))
        {
            var pixels = BottleneckPipeline.Evaluate.Export.ExportedModel.Pixels(File.ReadAllBytes(file), size, model.Metadata.Resize, model.Metadata.Decode,
                50_000_000);
            using var input = OrtValue.CreateTensorValueFromMemory(pixels, [1, 3, size, size]);
            using var outputs = session.Run(new RunOptions(), ["pixels"], [input], [UnknownScoreGraph.ScoreOutput, UnknownScoreGraph.FlagOutput]);
            var score = outputs[0].GetTensorDataAsSpan<float>()[0];
            var flag = outputs[1].GetTensorDataAsSpan<bool>()[0];
            Assert.Equal(score > threshold, flag);
            Assert.Equal(flag ? "unknown" : "classified", rows[file][1]);
            Assert.Equal(score, double.Parse(rows[file][2], CultureInfo.InvariantCulture), 1e-5 * Math.Max(1, Math.Abs(score)));
        }
    }

    [Fact]
    public void Evaluate_ood_reports_auroc_flagged_share_and_fpr_at_95_tpr()
    {
        using var other = new TempDir();
        OodImages.Write(other["ood"], count: 24, seed: 11);
        var r = StageProcess.Run("Evaluate", "--config", run.Config.SourcePath, "--ood", other["ood"], "--out", other["ood.json"]);
        Assert.True(r.ExitCode == 0, r.Output);
        var json = JsonNode.Parse(File.ReadAllText(other["ood.json"]))!;
        Assert.Equal(24, json["images"]!.GetValue<int>());
        Assert.Equal(run.TestExamples().Count, json["in_class_images"]!.GetValue<int>());
        Assert.InRange(json["auroc"]!.GetValue<double>(), 0.9, 1);
        Assert.InRange(json["flagged_share"]!.GetValue<double>(), 0.75, 1);
        Assert.InRange(json["fpr_at_95_tpr"]!.GetValue<double>(), 0, 0.25);
        Assert.True(json["baseline"]!["auroc"] is not null);

        // --data says how many of a labelled folder it called unknown.
        var scored = StageProcess.Run("Evaluate", "--config", run.Config.SourcePath, "--data", run.Data, "--out", other["scored.json"]);
        Assert.True(scored.ExitCode == 0, scored.Output);
        Assert.InRange(JsonNode.Parse(File.ReadAllText(other["scored.json"]))!["unknown_share"]!.GetValue<double>(), 0, 0.25);
        Assert.Contains("called unknown", scored.StdOut, StringComparison.Ordinal);
    }

    private static string CopyTo(string file, string dir)
    {
        Directory.CreateDirectory(dir);
        var target = Path.Combine(dir, Path.GetFileName(file));
        File.Copy(file, target);
        return target;
    }
}
