using BottleneckPipeline.Config;
using BottleneckPipeline.Evaluate.Export;
using BottleneckPipeline.Tests.Fixtures;
using Google.Protobuf;
using Onnx;

namespace BottleneckPipeline.Tests.Export;

/// <summary>Export paths the two real models do not take: an NHWC backbone with custom mean/std.</summary>
public class SyntheticBackboneExportTests
{
    private const int Size = 4;

    /// <summary>x [1,4,4,3] NHWC -> Flatten = "features" [1,48] -> MatMul (an old classifier export must prune).</summary>
    private static byte[] NhwcBackbone()
    {
        var model = new ModelProto { IrVersion = 7, Graph = new GraphProto { Name = "nhwc" } };
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = 13 });
        var g = model.Graph;
        g.Input.Add(Info("x", 1, Size, Size, 3));
        var flatten = new NodeProto { OpType = "Flatten", Name = "flat" };
        flatten.Input.Add("x");
        flatten.Output.Add("features");
        var classifier = new NodeProto { OpType = "MatMul", Name = "old_classifier" };
        classifier.Input.AddRange(["features", "old_w"]);
        classifier.Output.Add("old_logits");
        g.Node.AddRange([flatten, classifier]);
        var w = new TensorProto { Name = "old_w", DataType = 1 };
        w.Dims.AddRange([48, 2]);
        w.FloatData.AddRange(new float[96]);
        g.Initializer.Add(w);
        g.Output.Add(Info("old_logits", 1, 2));
        return model.ToByteArray();
    }

    private static ValueInfoProto Info(string name, params long[] dims)
    {
        var shape = new TensorShapeProto();
        foreach (var d in dims) shape.Dim.Add(new TensorShapeProto.Types.Dimension { DimValue = d });
        return new ValueInfoProto { Name = name, Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = 1, Shape = shape } } };
    }

    private static readonly ExportPreprocessing CustomNhwc =
        ExportPreprocessing.From(BottleneckPipeline.Imaging.Preprocessing.MeanStd(NormalizationPreset.Custom, [0.5, 0.4, 0.3], [0.2, 0.25, 0.5]),
            Size, TensorLayout.Nhwc);

    private static List<float[]> NoiseImages(int count)
    {
        var random = new BottleneckPipeline.Training.SeededRandom(8);
        return [.. Enumerable.Range(0, count).Select(_ => Enumerable.Range(0, 3 * Size * Size).Select(_ => (float)random.NextInt(256)).ToArray())];
    }

    /// <summary>The reference, written out by hand: per channel (x/255 - mean)/std, then CHW -> HWC, then the head in C#.</summary>
    private static float[] Expected(BottleneckPipeline.Head.SoftmaxHead head, float[] image)
    {
        float[] mean = [0.5f, 0.4f, 0.3f], std = [0.2f, 0.25f, 0.5f];
        var hwc = new float[image.Length];
        for (var c = 0; c < 3; c++)
            for (var k = 0; k < Size * Size; k++)
                hwc[k * 3 + c] = (image[c * Size * Size + k] / 255f - mean[c]) / std[c];
        return head.Probabilities(hwc);
    }

    [Fact]
    public void Nhwc_backbone_gets_transposed_custom_normalized_pixels()
    {
        using var dir = new TempDir();
        var head = ExportTestImages.RandomHead(3, 3 * Size * Size, 0.3, 4);
        HeadExporter.ExportToFile(dir["m.onnx"], NhwcBackbone(), "features", CustomNhwc, head, new ExportProvenance("custom", "fp", "h"));

        var images = NoiseImages(5);
        var check = ExportChecker.Check(dir["m.onnx"], images, [.. images.Select(i => Expected(head, i))]);
        Assert.True(check.Passed, $"agreement {check.ArgmaxAgreement}, max diff {check.MaxAbsProbabilityDifference}");

        var exported = ModelProto.Parser.ParseFrom(File.ReadAllBytes(dir["m.onnx"]));
        Assert.DoesNotContain(exported.Graph.Node, n => n.Name == "old_classifier");
        Assert.DoesNotContain(exported.Graph.Initializer, t => t.Name == "old_w");
        Assert.Contains(exported.Graph.Node, n => n.OpType == "Transpose");
        Assert.DoesNotContain(exported.Graph.Node, n => n.OpType == "Gather");
    }

    [Fact]
    public void Logits_in_the_thousands_give_finite_probabilities_in_the_export_and_in_csharp()
    {
        using var dir = new TempDir();
        // Weights 300 times the usual: logits of several thousand, where an unshifted exp overflows.
        var head = ExportTestImages.RandomHead(3, 3 * Size * Size, 100, 4);
        HeadExporter.ExportToFile(dir["m.onnx"], NhwcBackbone(), "features", CustomNhwc, head, new ExportProvenance("custom", "fp", "h"));

        var images = NoiseImages(5);
        var expected = images.Select(i => Expected(head, i)).ToList();
        Assert.All(expected.SelectMany(p => p), v => Assert.True(float.IsFinite(v), "the C# head gave a non-finite probability"));
        Assert.True(expected.Select(p => Array.IndexOf(p, p.Max())).Distinct().Count() >= 2, "the head should not pick one class for every image");
        var actual = ExportChecker.Run(dir["m.onnx"], images);
        Assert.All(actual.SelectMany(p => p), v => Assert.True(float.IsFinite(v), "the exported model gave a non-finite probability"));
        var check = ExportChecker.Check(dir["m.onnx"], images, expected);
        Assert.True(check.Passed, $"agreement {check.ArgmaxAgreement}, max diff {check.MaxAbsProbabilityDifference}");
    }
}
