using BottleneckPipeline.Artifacts;
using BottleneckPipeline.Cache;
using BottleneckPipeline.Config;
using BottleneckPipeline.Evaluate;
using BottleneckPipeline.Evaluate.Export;
using BottleneckPipeline.Head;
using BottleneckPipeline.Runtime;
using BottleneckPipeline.Tests.Fixtures;
using BottleneckPipeline.TrainHead;
using Microsoft.ML.OnnxRuntime;

namespace BottleneckPipeline.Tests.Export;

public class EvaluationRunTests
{
    private static readonly string ResNetDir = Path.Combine(AppContext.BaseDirectory, "models", "resnet18");

    [Fact]
    public void Evaluate_measures_exports_checks_and_is_then_up_to_date()
    {
        using var dir = new TempDir();
        // Real flowers through the real backbone: 2 per class, the vectors the cache would hold.
        var pixels = ExportTestImages.Load(224, perClass: 2).SkipLast(1).ToList();
        using var prep = new InferenceSession(Path.Combine(ResNetDir, "ResNetPreprocess.onnx"));
        using var backbone = new InferenceSession(Path.Combine(ResNetDir, "ResNet18.onnx"));
        var vectors = pixels.Select(p => ExportTestImages.RunOne(backbone, "Input247", "Pooling395_Output_0",
            ExportTestImages.RunOne(prep, "OriginalInput", "PreprocessedInput", p, [1, 3, 224, 224]), [1, 3, 224, 224])).ToList();
        var names = Directory.GetDirectories(RepoPaths.Flowers).Select(Path.GetFileName).Order(StringComparer.Ordinal).ToArray()!;
        var labels = Enumerable.Range(0, vectors.Count).Select(i => i / 2).ToArray();
        var set = new LabelledVectors(vectors, labels, names!, labels.Select((_, i) => $"id{i}").ToArray(),
            labels.Select((l, i) => $"{names[l]}/{i}.jpg").ToArray());

        var config = new PipelineConfig
        {
            Workspace = dir.Path,
            TrainHead = new TrainHeadConfig { Steps = 60, EvalInterval = 20 },
            SectionHashes = new Dictionary<string, string> { ["train_head"] = "t", ["evaluate"] = "e" },
        };
        HeadTrainingRun.Execute(config, "resnet18", "fp-resnet", "up", () => (set, null));

        var export = new ExportInputs(File.ReadAllBytes(Path.Combine(ResNetDir, "ResNet18.onnx")), "Pooling395_Output_0",
            ExportPreprocessing.From(BottleneckPipeline.Imaging.Preprocessing.CaffeBgr(BottleneckPipeline.Backbones.BackboneFactory.LoadResNetMeanImage()),
                224, TensorLayout.Nchw), _ => pixels);
        var loads = 0;
        LabelledVectors LoadSplit(string split, string[] headLabels) { loads++; Assert.Equal(names, headLabels); return set; }

        var dataset = new DatasetIdentity(dir["images"], "index hash", "index-1");
        var first = EvaluationRun.Execute(config, "fp-resnet", "up", dataset, LoadSplit, _ => export);
        Assert.False(first.UpToDate);
        var report = first.Report!;
        Assert.Equal(vectors.Count, report.Images);
        Assert.Equal(1.0, report.Accuracy.Value); // trained on these very vectors
        Assert.Equal("head only", report.Shipped!.Model);
        Assert.True(report.Export!.Passed, $"agreement {report.Export.ArgmaxAgreement}, max diff {report.Export.MaxAbsProbabilityDifference}");
        Assert.True(File.Exists(ArtifactPaths.Model(config)));
        Assert.True(File.Exists(Path.Combine(config.ReportsDir, "evaluation.json")));
        Assert.Contains("export agrees", first.Summary);

        var second = EvaluationRun.Execute(config, "fp-resnet", "up", dataset, LoadSplit, _ => export);
        Assert.True(second.UpToDate);
        Assert.Equal(3, loads); // validation, test and train (the unknown rule's), once

        // The page is part of the report: without it the report is redone.
        var page = Path.Combine(config.ReportsDir, "evaluation.html");
        Assert.Contains("index-1", File.ReadAllText(page));
        File.Delete(page);
        Assert.False(EvaluationRun.Execute(config, "fp-resnet", "up", dataset, LoadSplit, _ => export).UpToDate);
        Assert.True(File.Exists(page));

        var e = Assert.Throws<InputException>(() => EvaluationRun.Execute(config, "fp-other", "up", dataset, LoadSplit, _ => export));
        Assert.Contains("fp-resnet", e.Message);
        Assert.Contains("fp-other", e.Message);
    }
}
