using System.Globalization;
using System.Runtime.InteropServices;
using System.Text.Json.Nodes;
using BottleneckPipeline.Artifacts;
using BottleneckPipeline.Backbones;
using BottleneckPipeline.Cache;
using BottleneckPipeline.Head;
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
    public void Evaluate_scores_the_fine_tuned_model_beside_the_head_exports_it_and_falls_back_without_a_current_manifest()
    {
        var config = _run.Config;
        var head = _run.Head();
        var original = BackboneFactory.Resolve(config);
        var (changedWeight, changedValues) = WriteFineTunedBackbone(Path.Combine(ArtifactPaths.FineTuneDirectory(config), "backbone.onnx"));
        var spec = TunedBackbone.Resolve(config, Path.Combine(ArtifactPaths.FineTuneDirectory(config), "backbone.onnx"));
        Assert.NotEqual(original.Fingerprint, spec.Fingerprint);
        var fineTunedHead = MessagePack.MessagePackSerializer.Deserialize<HeadArtifact>(MessagePack.MessagePackSerializer.Serialize(head));
        fineTunedHead.BackboneFingerprint = spec.Fingerprint;
        fineTunedHead.InputsHash = "fine-tuned-head";
        fineTunedHead.Save(Path.Combine(ArtifactPaths.FineTuneDirectory(config), "head.msgpack"));
        var manifest = new TunedNetworkManifest(TunedNetworkManifest.CurrentFormat, "backbone.onnx", "head.msgpack", original.Fingerprint, spec.Fingerprint,
            "last-stage", TunedNetworkInputs.TryHash(config)!, 3, 0.9)
        { BaseHeadInputsHash = head.InputsHash };
        manifest.Save(config);

        // 1. Both results, side by side, from one run.
        var first = Evaluate();
        Assert.Contains("head only", first.StdOut, StringComparison.Ordinal);
        Assert.Contains("fine-tuned (last-stage) on", first.StdOut, StringComparison.Ordinal);
        Assert.Contains("export (fine-tuned (last-stage)) agrees", first.StdOut, StringComparison.Ordinal);
        var report = Report();
        var fineTuned = report["fine_tuned"]!;
        var test = _run.TestExamples();
        var fineTunedCache = BottleneckCache.Open(config.CacheDir, spec.Fingerprint);
        var originalCache = _run.Cache();
        var classes = head.LabelNames.ToList();
        int headRight = 0, fineTunedRight = 0, differing = 0;
        foreach (var (id, cls, _) in test)
        {
            // Every test image was embedded through the fine-tuned backbone, into its own fingerprint.
            var v = fineTunedCache.Get(id);
            Assert.True(v is not null, $"test image {id} has no vector under the fine-tuned fingerprint");
            if (!v.SequenceEqual(originalCache.Get(id)!)) differing++;
            if (ReferenceHead.Predicted(fineTunedHead, v) == classes.IndexOf(cls)) fineTunedRight++;
            if (ReferenceHead.Predicted(head, originalCache.Get(id)!) == classes.IndexOf(cls)) headRight++;
        }
        Assert.Equal(test.Count, differing); // the changed weight reaches every vector
        Assert.Equal((double)headRight / test.Count, report["test_accuracy"]!.GetValue<double>(), 12);
        Assert.Equal((double)fineTunedRight / test.Count, fineTuned["report"]!["test_accuracy"]!.GetValue<double>(), 12);
        Assert.Equal(test.Count, fineTuned["report"]!["test_images"]!.GetValue<int>());
        Assert.Equal("last-stage", fineTuned["trainable"]!.GetValue<string>());
        Assert.Equal(spec.Fingerprint, fineTuned["backbone_fingerprint"]!.GetValue<string>());
        Assert.Contains(Pct(fineTunedRight, test.Count) + " fine-tuned (last-stage)", first.StdOut, StringComparison.Ordinal);
        Assert.Contains(Pct(headRight, test.Count) + " head only", first.StdOut, StringComparison.Ordinal);
        var markdown = File.ReadAllText(Path.Combine(config.ReportsDir, "evaluation.md"));
        Assert.Contains("## Head only and fine-tuned", markdown, StringComparison.Ordinal);
        Assert.Contains($"| test accuracy | {Pct(headRight, test.Count)} | {Pct(fineTunedRight, test.Count)} |", markdown, StringComparison.Ordinal);
        var page = File.ReadAllText(Path.Combine(config.ReportsDir, "evaluation.html"));
        Assert.Contains("Head only against fine-tuned (last-stage)", page, StringComparison.Ordinal);

        // 2. model.onnx is the fine-tuned network, and agrees with the embedding path on every test image.
        var export = report["export"]!;
        Assert.True(export["passed"]!.GetValue<bool>(), export.ToJsonString());
        Assert.Equal(1.0, export["argmax_agreement"]!.GetValue<double>());
        Assert.Equal(test.Count, export["images"]!.GetValue<int>());
        Assert.Equal("fine-tuned (last-stage)", export["network"]!.GetValue<string>());
        var exported = ModelProto.Parser.ParseFrom(File.ReadAllBytes(Path.Combine(config.Workspace, "model.onnx")));
        Assert.Equal(spec.Fingerprint, exported.MetadataProps.Single(p => p.Key == "backbone_fingerprint").Value);
        Assert.Equal(changedValues, Floats(exported.Graph.Initializer.Single(t => t.Name == changedWeight)));
        using (var session = new InferenceSession(Path.Combine(config.Workspace, "model.onnx")))
        {
            Assert.Equal("pixels", Assert.Single(session.InputMetadata.Keys));
            Assert.True(session.InputMetadata["pixels"].Dimensions[0] < 0, "the exported batch must be dynamic");
            Assert.Equal("probabilities", Assert.Single(session.OutputMetadata.Keys));
        }

        // 3. A second evaluation embeds nothing again: the fine-tuned vectors come from the cache.
        var cacheFiles = CacheFiles(spec.Fingerprint);
        File.Delete(Path.Combine(config.ReportsDir, "evaluation.json"));
        var second = Evaluate();
        Assert.DoesNotContain("up to date", second.StdOut, StringComparison.Ordinal);
        Assert.Contains(Pct(fineTunedRight, test.Count) + " fine-tuned (last-stage)", second.StdOut, StringComparison.Ordinal);
        Assert.Equal(cacheFiles, CacheFiles(spec.Fingerprint));

        // 4. predict classifies with the fine-tuned model.
        var image = Path.Join(config.Dataset.Root, test[0].RelPath);
        var csv = Path.Combine(_run.Dir.Path, "predictions.csv");
        var predicted = StageProcess.Run("Evaluate", "predict", "--config", config.SourcePath, image, "--out", csv, "--top-k", "1");
        Assert.True(predicted.ExitCode == 0, predicted.Output);
        Assert.Contains("fine-tuned (last-stage)", predicted.StdOut, StringComparison.Ordinal);
        var p = ReferenceHead.Probabilities(fineTunedHead, fineTunedCache.Get(test[0].ContentId)!);
        var cells = File.ReadAllLines(csv)[1].Split(',');
        Assert.Equal(head.LabelNames[Array.IndexOf(p, p.Max())], cells[1]);
        Assert.Equal(p.Max(), double.Parse(cells[2], CultureInfo.InvariantCulture), 5e-6);

        // 5. A manifest made from another backbone is ignored, with a note: the head alone is reported and exported.
        (manifest with { BaseBackboneFingerprint = "0123456789abcdef0123" }).Save(config);
        var stale = Evaluate();
        Assert.Contains("note: the fine-tuned model in", stale.StdOut, StringComparison.Ordinal);
        Assert.Contains("not the current " + original.Fingerprint, stale.StdOut, StringComparison.Ordinal);
        report = Report();
        Assert.Null(report["fine_tuned"]);
        Assert.Contains("0123456789abcdef0123", report["fine_tune_note"]!.GetValue<string>(), StringComparison.Ordinal);
        Assert.Equal("head only", report["export"]!["network"]!.GetValue<string>());
        Assert.Equal(original.Fingerprint, ExportedFingerprint());

        // 5b. One made with other fine_tune settings than the config now gives is ignored too.
        (manifest with { InputsHash = "made-with-other-settings" }).Save(config);
        var otherSettings = Evaluate();
        Assert.Contains("other fine_tune settings", otherSettings.StdOut, StringComparison.Ordinal);
        Assert.Null(Report()["fine_tuned"]);

        // 6. Without the manifest, Evaluate is head-only as before FineTune existed.
        File.Delete(ArtifactPaths.TunedManifest(config));
        var headOnly = Evaluate();
        Assert.DoesNotContain("note:", headOnly.StdOut, StringComparison.Ordinal);
        Assert.Contains($"test accuracy {Pct(headRight, test.Count)} on {test.Count} images", headOnly.StdOut, StringComparison.Ordinal);
        report = Report();
        Assert.Null(report["fine_tuned"]);
        Assert.Null(report["fine_tune_note"]);
        Assert.Equal(original.Fingerprint, ExportedFingerprint());
        Assert.DoesNotContain("Head only and fine-tuned", File.ReadAllText(Path.Combine(config.ReportsDir, "evaluation.md")), StringComparison.Ordinal);
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
        head.Save(Path.Combine(ArtifactPaths.FineTuneDirectory(config), "head.msgpack"));
        new TunedNetworkManifest(TunedNetworkManifest.CurrentFormat, "backbone.onnx", "head.msgpack", original.Fingerprint, recorded, "last-stage", TunedNetworkInputs.TryHash(config)!, 1, 0.5).Save(config);
        File.Copy(original.ModelPath, path, overwrite: true); // replaced after FineTune wrote it

        var r = Evaluate(expectedExit: 3);
        Assert.StartsWith("evaluate: error:", r.StdErr, StringComparison.Ordinal);
        Assert.Contains(path, r.StdErr, StringComparison.Ordinal);
        Assert.Contains("make fine-tune", r.StdErr, StringComparison.Ordinal);
    }

    private StageProcess.Result Evaluate(int expectedExit = 0)
    {
        var r = StageProcess.Run("Evaluate", "--config", _run.Config.SourcePath);
        Assert.True(r.ExitCode == expectedExit, $"exited {r.ExitCode}:\n{r.Output}");
        return r;
    }

    private JsonNode Report() => JsonNode.Parse(File.ReadAllText(Path.Combine(_run.Config.ReportsDir, "evaluation.json")))!;

    private string ExportedFingerprint() =>
        ModelProto.Parser.ParseFrom(File.ReadAllBytes(Path.Combine(_run.Config.Workspace, "model.onnx"))).MetadataProps.Single(p => p.Key == "backbone_fingerprint").Value;

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
