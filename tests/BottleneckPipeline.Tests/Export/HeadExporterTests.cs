using System.Text.Json;
using BottleneckPipeline.Config;
using BottleneckPipeline.Evaluate.Export;
using BottleneckPipeline.Runtime;
using BottleneckPipeline.Tests.Fixtures;
using Microsoft.ML.OnnxRuntime;
using Xunit.Abstractions;

namespace BottleneckPipeline.Tests.Export;

public class HeadExporterTests(ITestOutputHelper output)
{
    private static readonly string ResNetDir = Path.Combine(AppContext.BaseDirectory, "models", "resnet18");
    private static readonly ExportProvenance Provenance = new("resnet18", "fp-test", "head-hash");

    [Fact]
    public void Exported_resnet18_with_head_matches_backbone_then_head_on_raw_pixels()
    {
        using var dir = new TempDir();
        var images = ExportTestImages.Load(224, perClass: 2);
        var head = ExportTestImages.RandomHead(5, 512, 0.05, 1);
        var preprocessing = ExportPreprocessing.From(
            BottleneckPipeline.Imaging.Preprocessing.CaffeBgr(BottleneckPipeline.Backbones.BackboneFactory.LoadResNetMeanImage()), 224, TensorLayout.Nchw);
        Assert.Equal(3 * 224 * 224, preprocessing.Mean.Length);

        // Reference: the package's own preprocessing model, then the backbone, then the head in C#.
        using var prep = new InferenceSession(Path.Combine(ResNetDir, "ResNetPreprocess.onnx"));
        using var backbone = new InferenceSession(Path.Combine(ResNetDir, "ResNet18.onnx"));
        var expected = new List<float[]>();
        foreach (var image in images)
        {
            var normalized = ExportTestImages.RunOne(prep, "OriginalInput", "PreprocessedInput", image, [1, 3, 224, 224]);
            var ours = preprocessing.Apply(image);
            Assert.True(normalized.Zip(ours).All(p => Math.Abs(p.First - p.Second) <= 1e-4f), "C# normalization differs from ResNetPreprocess.onnx");
            var vector = ExportTestImages.RunOne(backbone, "Input247", "Pooling395_Output_0", normalized, [1, 3, 224, 224]);
            Assert.Equal(512, vector.Length);
            expected.Add(head.Probabilities(vector));
        }
        // The random head must make distinct decisions, or agreement would be trivially met.
        Assert.True(expected.Select(p => Array.IndexOf(p, p.Max())).Distinct().Count() >= 2);

        var path = dir["model.onnx"];
        HeadExporter.ExportToFile(path, File.ReadAllBytes(Path.Combine(ResNetDir, "ResNet18.onnx")), "Pooling395_Output_0", preprocessing, head, Provenance);
        var check = ExportChecker.Check(path, images, expected);

        Assert.Equal(images.Count, check.Images);
        Assert.Equal(1.0, check.ArgmaxAgreement);
        Assert.True(check.MaxAbsProbabilityDifference <= 1e-4, $"max |diff| {check.MaxAbsProbabilityDifference}");
        Assert.True(check.Passed);
        output.WriteLine($"resnet18 export: {check.Images} images, agreement {check.ArgmaxAgreement}, max |diff| {check.MaxAbsProbabilityDifference:E2}");

        using var exported = new InferenceSession(path);
        Assert.Equal([HeadExporter.InputName], exported.InputMetadata.Keys);
        Assert.Equal([-1, 3, 224, 224], exported.InputMetadata[HeadExporter.InputName].Dimensions);
        Assert.Equal([-1, 5], exported.OutputMetadata[HeadExporter.OutputName].Dimensions);
        var meta = exported.ModelMetadata.CustomMetadataMap;
        Assert.Equal(head.LabelNames, JsonSerializer.Deserialize<string[]>(meta["labels"]));
        Assert.Equal("224", meta["input_size"]);
        Assert.Equal("NCHW", meta["input_layout"]);
        Assert.Contains("caffe-bgr", meta["preprocessing"]);
        Assert.Equal("fp-test", meta["backbone_fingerprint"]);

        // Its own checksum, the last metadata entry: any changed byte fails it.
        Assert.Matches("^[0-9a-f]{64}$", meta[ModelChecksum.Key]);
        var bytes = File.ReadAllBytes(path);
        Assert.Null(ModelChecksum.Check(bytes));
        bytes[bytes.Length / 2] ^= 1;
        Assert.Equal(Artifacts.ArtifactFault.Damaged, ModelChecksum.Check(bytes));
        Assert.Equal(Artifacts.ArtifactFault.Unverifiable, ModelChecksum.Check(bytes[..^100]));
    }

    [Fact]
    public void Exported_resnet18_takes_a_batch_of_8_and_its_only_input_is_pixels()
    {
        using var dir = new TempDir();
        var images = ExportTestImages.Load(224, perClass: 2).Take(8).ToList();
        Assert.Equal(8, images.Count);
        var preprocessing = ExportPreprocessing.From(
            BottleneckPipeline.Imaging.Preprocessing.CaffeBgr(BottleneckPipeline.Backbones.BackboneFactory.LoadResNetMeanImage()), 224, TensorLayout.Nchw);
        var path = dir["model.onnx"];
        HeadExporter.ExportToFile(path, File.ReadAllBytes(Path.Combine(ResNetDir, "ResNet18.onnx")), "Pooling395_Output_0", preprocessing,
            ExportTestImages.RandomHead(5, 512, 0.05, 1), Provenance);

        // The file itself, as any runtime or viewer reads it: one input, pixels, with a symbolic batch.
        var graph = Onnx.ModelProto.Parser.ParseFrom(File.ReadAllBytes(path)).Graph;
        var input = Assert.Single(graph.Input);
        Assert.Equal(HeadExporter.InputName, input.Name);
        var dims = input.Type.TensorType.Shape.Dim;
        Assert.NotEmpty(dims[0].DimParam);
        Assert.Equal([3L, 224L, 224L], dims.Skip(1).Select(d => d.DimValue));
        Assert.NotEmpty(Assert.Single(graph.Output).Type.TensorType.Shape.Dim[0].DimParam);
        Assert.True(graph.Initializer.Count > 100, "the weights stay in the file, as initializers");

        using var session = new InferenceSession(path);
        var batched = new float[8 * 3 * 224 * 224];
        for (var i = 0; i < 8; i++) images[i].CopyTo(batched, i * 3 * 224 * 224);
        var all = ExportTestImages.RunOne(session, HeadExporter.InputName, HeadExporter.OutputName, batched, [8, 3, 224, 224]);
        Assert.Equal(8 * 5, all.Length);
        var maxDiff = 0f;
        for (var i = 0; i < 8; i++)
        {
            var single = ExportTestImages.RunOne(session, HeadExporter.InputName, HeadExporter.OutputName, images[i], [1, 3, 224, 224]);
            for (var c = 0; c < 5; c++) maxDiff = Math.Max(maxDiff, Math.Abs(single[c] - all[i * 5 + c]));
        }
        output.WriteLine($"batch of 8 against 8 single runs: max |diff| {maxDiff:E2}");
        Assert.True(maxDiff <= 1e-6f, $"max |diff| {maxDiff}"); // measured: 0, bitwise equal
    }

    [Fact]
    public void Exported_model_disagrees_with_a_different_head()
    {
        using var dir = new TempDir();
        var images = ExportTestImages.Load(224, perClass: 1);
        var preprocessing = ExportPreprocessing.From(
            BottleneckPipeline.Imaging.Preprocessing.CaffeBgr(BottleneckPipeline.Backbones.BackboneFactory.LoadResNetMeanImage()), 224, TensorLayout.Nchw);
        HeadExporter.ExportToFile(dir["model.onnx"], File.ReadAllBytes(Path.Combine(ResNetDir, "ResNet18.onnx")), "Pooling395_Output_0",
            preprocessing, ExportTestImages.RandomHead(5, 512, 0.05, 1), Provenance);
        // Expected probabilities from another head: the check must notice.
        var uniform = images.Select(_ => Enumerable.Repeat(0.2f, 5).ToArray()).ToList();
        var check = ExportChecker.Check(dir["model.onnx"], images, uniform);
        Assert.False(check.Passed);
        Assert.True(check.MaxAbsProbabilityDifference > 1e-2);
    }

    [Fact]
    public void Exported_inception_has_2048_wide_head_and_matches_the_flatten_output()
    {
        using var dir = new TempDir();
        var images = ExportTestImages.Load(299, perClass: 0);
        var random = new BottleneckPipeline.Training.SeededRandom(5);
        images.Add(Enumerable.Range(0, 3 * 299 * 299).Select(_ => (float)random.NextInt(256)).ToArray());
        var head = ExportTestImages.RandomHead(3, 2048, 0.05, 2);
        var backboneBytes = File.ReadAllBytes(RepoPaths.InceptionZeroWeights);

        // Reference: the backbone with its Flatten output exposed, on x / 127.5 - 1 computed here.
        var exposed = Onnx.ModelProto.Parser.ParseFrom(backboneBytes);
        exposed.Graph.Output.Add(new Onnx.ValueInfoProto { Name = "/Flatten_output_0" });
        var exposedPath = dir["exposed.onnx"];
        File.WriteAllBytes(exposedPath, Google.Protobuf.MessageExtensions.ToByteArray(exposed));
        using var backbone = new InferenceSession(exposedPath);
        var expected = images.Select(image =>
        {
            var normalized = image.Select(v => v / 127.5f - 1).ToArray();
            var vector = ExportTestImages.RunOne(backbone, "input", "/Flatten_output_0", normalized, [1, 3, 299, 299]);
            Assert.Equal(2048, vector.Length);
            return head.Probabilities(vector);
        }).ToList();

        var path = dir["model.onnx"];
        HeadExporter.ExportToFile(path, backboneBytes, "/Flatten_output_0",
            ExportPreprocessing.From(BottleneckPipeline.Imaging.Preprocessing.Inception(), 299, TensorLayout.Nchw), head,
            Provenance with { BackboneName = "inception-v3" });
        var check = ExportChecker.Check(path, images, expected);
        output.WriteLine($"inception export: {check.Images} images, agreement {check.ArgmaxAgreement}, max |diff| {check.MaxAbsProbabilityDifference:E2}");
        Assert.True(check.Passed, $"agreement {check.ArgmaxAgreement}, max diff {check.MaxAbsProbabilityDifference}");

        var model = Onnx.ModelProto.Parser.ParseFrom(File.ReadAllBytes(path));
        var gemm = model.Graph.Node.Single(n => n.OpType == "Gemm");
        var weights = model.Graph.Initializer.Single(t => t.Name == gemm.Input[1]);
        Assert.Equal([3L, 2048L], weights.Dims);
        Assert.DoesNotContain(model.Graph.Initializer, t => t.Name == "fc.weight");
        Assert.Equal(HeadExporter.OutputName, model.Graph.Output.Single().Name);

        using var exported = new InferenceSession(path);
        Assert.Equal([-1, 3], exported.OutputMetadata[HeadExporter.OutputName].Dimensions);
        Assert.Equal(head.LabelNames, JsonSerializer.Deserialize<string[]>(exported.ModelMetadata.CustomMetadataMap["labels"]));
        // The batch dimension stays dynamic, so the checker ran all images in one call.
        Assert.Equal("batch", model.Graph.Input.Single().Type.TensorType.Shape.Dim[0].DimParam);
    }

    [Fact]
    public void Unknown_bottleneck_and_wrong_dimension_are_input_errors()
    {
        var backbone = File.ReadAllBytes(Path.Combine(ResNetDir, "ResNet18.onnx"));
        var preprocessing = ExportPreprocessing.From(BottleneckPipeline.Imaging.Preprocessing.MeanStd(NormalizationPreset.Imagenet,
            BottleneckPipeline.Imaging.Preprocessing.ImagenetMean, BottleneckPipeline.Imaging.Preprocessing.ImagenetStd), 224, TensorLayout.Nchw);
        var e = Assert.Throws<InputException>(() =>
            HeadExporter.Export(backbone, "no_such_tensor", preprocessing, ExportTestImages.RandomHead(2, 512, 1, 1), Provenance));
        Assert.Contains("no_such_tensor", e.Message);
        var d = Assert.Throws<InputException>(() =>
            HeadExporter.Export(backbone, "Pooling395_Output_0", preprocessing, ExportTestImages.RandomHead(2, 100, 1, 1), Provenance));
        Assert.Contains("512", d.Message);
        Assert.Contains("re-run TrainHead", d.Message);
    }
}
