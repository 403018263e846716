using System.Globalization;
using System.Runtime.InteropServices;
using System.Text.Json.Nodes;
using BottleneckPipeline.Artifacts;
using BottleneckPipeline.Backbones;
using BottleneckPipeline.Cache;
using BottleneckPipeline.Head;
using BottleneckPipeline.Tests.Fixtures;
using BottleneckPipeline.TunedNetwork;
using Microsoft.ML.OnnxRuntime;
using Onnx;

namespace BottleneckPipeline.Tests.Pipeline;

/// <summary>
/// Evaluate, --data's sibling predict, and the export on FineTune's artifact, built here without the
/// FineTune stage: the embedded ResNet-18 with one weight of its last stage changed, saved as the
/// fine-tuned backbone, the head TrainHead trained (relabelled to the new backbone) as the
/// fine-tuned head, and the manifest written last. Runs the built Evaluate executable on a small
/// pipeline of its own, since it changes that workspace.
/// </summary>
public sealed class FineTunedEvaluateTests : IDisposable
{
    private readonly SmallPipeline _run = new();

    public void Dispose() => _run.Dispose();

    [Fact]
    public void Forced_to_ship_the_fine_tuned_network_evaluate_reports_and_exports_it_with_the_head_alone_beside_it()
    {
        var config = _run.Config;
        var (head, original, spec, tunedHead, changedWeight, changedValues) = WriteTunedNetwork(h => h);
        Configure("evaluate:\n  ship: fine-tuned\n");

        var first = Evaluate("--with-fine-tuned");
        var report = Report();
        var test = _run.TestExamples();
        var tunedCache = BottleneckCache.Open(config.CacheDir, spec.Fingerprint);
        var originalCache = _run.Cache();
        var classes = head.LabelNames.ToList();
        int headRight = 0, tunedRight = 0, differing = 0;
        foreach (var (id, cls, _) in test)
        {
            // Every test image was embedded through the fine-tuned backbone, into its own fingerprint.
            var v = tunedCache.Get(id);
            Assert.True(v is not null, $"test image {id} has no vector under the fine-tuned fingerprint");
            if (!v.SequenceEqual(originalCache.Get(id)!)) differing++;
            if (ReferenceHead.Predicted(tunedHead, v) == classes.IndexOf(cls)) tunedRight++;
            if (ReferenceHead.Predicted(head, originalCache.Get(id)!) == classes.IndexOf(cls)) headRight++;
        }
        Assert.Equal(test.Count, differing); // the changed weight reaches every vector
        // The headline is the shipped model's; the head alone is the comparison.
        Assert.Equal("fine-tuned (last-stage)", report["model"]!.GetValue<string>());
        Assert.Equal(tunedRight, report["accuracy"]!["correct"]!.GetValue<int>());
        Assert.Equal("head only", report["comparison"]!["model"]!.GetValue<string>());
        Assert.Equal(headRight, report["comparison"]!["accuracy"]!["correct"]!.GetValue<int>());
        var shipped = report["shipped"]!;
        Assert.Equal("fine-tuned (last-stage)", shipped["model"]!.GetValue<string>());
        Assert.Equal("fine_tuned", shipped["policy"]!.GetValue<string>());
        Assert.Equal(2, shipped["validation"]!.AsArray().Count);
        Assert.Contains($"ships fine-tuned (last-stage): test accuracy {Pct(tunedRight, test.Count)} ({tunedRight} of {test.Count}; 95% CI",
            first.StdOut, StringComparison.Ordinal);
        var markdown = File.ReadAllText(Path.Combine(config.ReportsDir, "evaluation.md"));
        Assert.Contains("## fine-tuned (last-stage) (shipped) and head only", markdown, StringComparison.Ordinal);
        var page = File.ReadAllText(Path.Combine(config.ReportsDir, "evaluation.html"));
        Assert.Contains("<bdi>fine-tuned (last-stage)</bdi> (shipped) against <bdi>head only</bdi>", page, StringComparison.Ordinal);
        Assert.Equal(2, System.Text.RegularExpressions.Regex.Count(page, "<figure class=\"curve learning\"><svg")); // both learning curves
        Assert.DoesNotContain("No learning curve", page, StringComparison.Ordinal);

        // model.onnx is the fine-tuned network, and agrees with the embedding path on every test image.
        var export = report["export"]!;
        Assert.True(export["passed"]!.GetValue<bool>(), export.ToJsonString());
        Assert.Equal(test.Count, export["images"]!.GetValue<int>());
        Assert.Equal("fine-tuned (last-stage)", export["network"]!.GetValue<string>());
        var exported = ModelProto.Parser.ParseFrom(File.ReadAllBytes(Path.Combine(config.Workspace, "model.onnx")));
        Assert.Equal(spec.Fingerprint, exported.MetadataProps.Single(p => p.Key == "backbone_fingerprint").Value);
        Assert.Equal(changedValues, Floats(exported.Graph.Initializer.Single(t => t.Name == changedWeight)));

        // A second evaluation embeds nothing again: the fine-tuned vectors come from the cache.
        var cacheFiles = CacheFiles(spec.Fingerprint);
        File.Delete(Path.Combine(config.ReportsDir, "evaluation.json"));
        var second = Evaluate("--with-fine-tuned");
        Assert.DoesNotContain("up to date", second.StdOut, StringComparison.Ordinal);
        Assert.Equal(cacheFiles, CacheFiles(spec.Fingerprint));

        // predict classifies with what shipped.
        var image = Path.Join(config.Dataset.Root, test[0].RelPath);
        var csv = Path.Combine(_run.Dir.Path, "predictions.csv");
        var predicted = StageProcess.Run("Evaluate", "predict", "--config", config.SourcePath, image, "--out", csv, "--top-k", "1");
        Assert.True(predicted.ExitCode == 0, predicted.Output);
        var temperature = report["temperature"]!.GetValue<double>();
        var p = BottleneckPipeline.Confidence.TemperatureScaling.Probabilities(
            BottleneckPipeline.Confidence.TemperatureScaling.Logits(tunedHead.Head, tunedCache.Get(test[0].ContentId)!), temperature);
        var cells = File.ReadAllLines(csv)[1].Split(',');
        Assert.Equal(head.LabelNames[Array.IndexOf(p, p.Max())], cells[3]);
        Assert.Equal(p.Max(), double.Parse(cells[4], CultureInfo.InvariantCulture), 1e-4);

        // A manifest made from another backbone is ignored, with a note: the head alone ships.
        var manifest = ReadManifest() ?? throw new InvalidOperationException("no manifest");
        (manifest with { BaseBackboneFingerprint = "0123456789abcdef0123" }).Save(config);
        var stale = Evaluate("--with-fine-tuned");
        Assert.Contains("note: the fine-tuned model in", stale.StdOut, StringComparison.Ordinal);
        Assert.Contains("not the current " + original.Fingerprint, stale.StdOut, StringComparison.Ordinal);
        report = Report();
        Assert.Null(report["comparison"]);
        Assert.Contains("0123456789abcdef0123", report["fine_tune_note"]!.GetValue<string>(), StringComparison.Ordinal);
        Assert.Equal("head only", report["export"]!["network"]!.GetValue<string>());
        Assert.Equal(original.Fingerprint, ExportedFingerprint());

        // Without the manifest, Evaluate is head-only as before FineTune existed.
        File.Delete(ArtifactPaths.TunedManifest(config));
        var headOnly = Evaluate("--with-fine-tuned");
        Assert.DoesNotContain("note:", headOnly.StdOut, StringComparison.Ordinal);
        Assert.Contains($"ships head only: test accuracy {Pct(headRight, test.Count)} ({headRight} of {test.Count}", headOnly.StdOut, StringComparison.Ordinal);
        report = Report();
        Assert.Null(report["comparison"]);
        Assert.Null(report["fine_tune_note"]);
        Assert.Equal(original.Fingerprint, ExportedFingerprint());
    }

    [Fact]
    public void A_fine_tuned_network_that_loses_on_validation_is_not_shipped_and_the_report_shows_the_head_alone()
    {
        var config = _run.Config;
        // Its head answers the next class over: it loses on validation, whatever the changed backbone does.
        var (head, original, _, _, _, _) = WriteTunedNetwork(h =>
        {
            var (classes, dim) = (h.LabelNames.Length, h.Dimension);
            var rotated = new float[h.Weights.Length];
            for (var c = 0; c < classes; c++) Array.Copy(h.Weights, c * dim, rotated, (c + 1) % classes * dim, dim);
            h.Weights = rotated;
            h.Bias = [.. Enumerable.Range(0, classes).Select(c => h.Bias[(c + classes - 1) % classes])];
            return h;
        });
        var r = Evaluate("--with-fine-tuned");
        var report = Report();
        Assert.Equal("head only", report["model"]!.GetValue<string>());
        var shipped = report["shipped"]!;
        Assert.Equal("head only", shipped["model"]!.GetValue<string>());
        Assert.Equal("auto", shipped["policy"]!.GetValue<string>());
        Assert.Contains("head only over fine-tuned (last-stage): validation accuracy", shipped["reason"]!.GetValue<string>(), StringComparison.Ordinal);
        var validation = shipped["validation"]!.AsArray();
        Assert.True(validation[0]!["accuracy"]!["correct"]!.GetValue<int>() > validation[1]!["accuracy"]!["correct"]!.GetValue<int>());
        Assert.Equal("fine-tuned (last-stage)", report["comparison"]!["model"]!.GetValue<string>());
        Assert.Equal(original.Fingerprint, ExportedFingerprint());
        Assert.Contains("ships head only", r.StdOut, StringComparison.Ordinal);
        var test = _run.TestExamples();
        var right = test.Count(t => ReferenceHead.Predicted(head, _run.Cache().Get(t.ContentId)!) == head.LabelNames.ToList().IndexOf(t.Class));
        Assert.Equal(right, report["accuracy"]!["correct"]!.GetValue<int>());

        // With fine_tune.enabled false, plain make (no --with-fine-tuned) leaves the network out, with a note.
        var plain = Evaluate();
        Assert.Contains("fine_tune.enabled is false", plain.StdOut, StringComparison.Ordinal);
        Assert.Null(Report()["comparison"]);
        Assert.True(File.Exists(ArtifactPaths.TunedManifest(config))); // kept, not deleted
    }

    [Fact]
    public void A_fine_tuned_backbone_that_is_not_the_one_the_manifest_records_is_refused_with_exit_3()
    {
        var config = _run.Config;
        var head = _run.Head();
        var original = BackboneFactory.Resolve(config);
        var path = Path.Combine(ArtifactPaths.FineTuneDirectory(config), "backbone.onnx");
        WriteFineTunedBackbone(path);
        var recorded = TunedBackbone.Resolve(config, path).Fingerprint;
        head.BackboneFingerprint = recorded;
        var headSha256 = head.Save(Path.Combine(ArtifactPaths.FineTuneDirectory(config), "head.msgpack"));
        new TunedNetworkManifest(TunedNetworkManifest.CurrentFormat, "backbone.onnx", "head.msgpack", original.Fingerprint, recorded, "last-stage",
            TunedNetworkInputsHash.TryHash(config)!, 1, 0.5)
        { BackboneSha256 = Sha256.OfFile(path), HeadSha256 = headSha256 }.Save(config);
        File.Copy(original.ModelPath, path, overwrite: true); // replaced after FineTune wrote it

        var r = Evaluate("--with-fine-tuned", expectedExit: 3);
        Assert.StartsWith("evaluate: error:", r.StdErr, StringComparison.Ordinal);
        Assert.Contains(path, r.StdErr, StringComparison.Ordinal);
        Assert.Contains("make fine-tune", r.StdErr, StringComparison.Ordinal);
    }

    /// <summary>A fine-tuned network in the workspace as FineTune leaves it: the changed backbone, a head (TrainHead's,
    /// changed by <paramref name="changeHead"/>) relabelled to it, and the manifest written last.</summary>
    private (HeadArtifact Head, BackboneSpec Original, BackboneSpec Tuned, HeadArtifact TunedHead, string ChangedWeight, float[] ChangedValues)
        WriteTunedNetwork(Func<HeadArtifact, HeadArtifact> changeHead)
    {
        var config = _run.Config;
        var head = _run.Head();
        var original = BackboneFactory.Resolve(config);
        var backbone = Path.Combine(ArtifactPaths.FineTuneDirectory(config), "backbone.onnx");
        var (changedWeight, changedValues) = WriteFineTunedBackbone(backbone);
        var spec = TunedBackbone.Resolve(config, backbone);
        Assert.NotEqual(original.Fingerprint, spec.Fingerprint);
        var tunedHead = changeHead(MessagePack.MessagePackSerializer.Deserialize<HeadArtifact>(MessagePack.MessagePackSerializer.Serialize(head)));
        tunedHead.BackboneFingerprint = spec.Fingerprint;
        tunedHead.InputsHash = "fine-tuned-head";
        var headSha256 = tunedHead.Save(Path.Combine(ArtifactPaths.FineTuneDirectory(config), "head.msgpack"));
        TrainingLog.WriteCsv(ArtifactPaths.FineTuneLog(config), [new(10, 0.9, 0.6, 0.8, 0.65), new(20, 0.5, 0.8, 0.6, 0.75), new(30, 0.4, 0.85, 0.6, 0.8)]);
        new TunedNetworkManifest(TunedNetworkManifest.CurrentFormat, "backbone.onnx", "head.msgpack", original.Fingerprint, spec.Fingerprint,
            "last-stage", TunedNetworkInputsHash.TryHash(config)!, 3, 0.9)
        { BaseHeadInputsHash = head.InputsHash, BackboneSha256 = Sha256.OfFile(backbone), HeadSha256 = headSha256 }.Save(config);
        return (head, original, spec, tunedHead, changedWeight, changedValues);
    }

    private TunedNetworkManifest? ReadManifest() => TunedNetworkManifest.TryLoad(_run.Config);

    /// <summary>Rewrites the run's own config in place (another file would be another config, refused on this workspace).</summary>
    private void Configure(string more) => SmallPipeline.WriteConfig(Path.GetDirectoryName(_run.Config.SourcePath)!, _run.Data, more: more);

    private StageProcess.Result Evaluate(params string[] more) => Evaluate(0, more);

    private StageProcess.Result Evaluate(string flag, int expectedExit) => Evaluate(expectedExit, flag);

    private StageProcess.Result Evaluate(int expectedExit, params string[] more)
    {
        var r = StageProcess.Run("Evaluate", ["--config", _run.Config.SourcePath, .. more]);
        Assert.True(r.ExitCode == expectedExit, $"exited {r.ExitCode}:\n{r.Output}");
        return r;
    }

    private JsonNode Report() => JsonNode.Parse(File.ReadAllText(Path.Combine(_run.Config.ReportsDir, "evaluation.json")))!;

    private string ExportedFingerprint() =>
        ModelProto.Parser.ParseFrom(File.ReadAllBytes(Path.Combine(_run.Config.Workspace, "model.onnx")))
            .MetadataProps.Single(p => p.Key == "backbone_fingerprint").Value;

    /// <summary>Every file under the fingerprint's cache folder with its size: unchanged means nothing was embedded.</summary>
    private List<(string, long)> CacheFiles(string fingerprint) =>
        [.. Directory.EnumerateFiles(BottleneckCache.FolderFor(_run.Config.CacheDir, fingerprint), "*", SearchOption.AllDirectories)
            .Order(StringComparer.Ordinal).Select(f => (f, new FileInfo(f).Length))];

    /// <summary>The embedded ResNet-18 with the weight of its last Conv (in layer4) scaled by 0.7, as a fine-tune would
    /// change it; returns that initializer's name and new values.</summary>
    private static (string Name, float[] Values) WriteFineTunedBackbone(string path)
    {
        var model = ModelProto.Parser.ParseFrom(File.ReadAllBytes(BackboneFactory.EmbeddedResNet18Path));
        var initializers = model.Graph.Initializer.ToDictionary(t => t.Name);
        var conv = model.Graph.Node.Last(n => n.OpType == "Conv" && initializers.ContainsKey(n.Input[1]));
        var weight = initializers[conv.Input[1]];
        var values = Floats(weight).Select(v => v * 0.7f).ToArray();
        weight.FloatData.Clear();
        weight.RawData = Google.Protobuf.ByteString.CopyFrom(MemoryMarshal.AsBytes(values.AsSpan()));
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllBytes(path, Google.Protobuf.MessageExtensions.ToByteArray(model));
        return (weight.Name, values);
    }

    private static float[] Floats(TensorProto t) =>
        t.RawData.Length > 0 ? MemoryMarshal.Cast<byte, float>(t.RawData.Span).ToArray() : [.. t.FloatData];

    private static string Pct(int right, int count) => (100.0 * right / count).ToString("0.0", CultureInfo.InvariantCulture) + "%";
}
