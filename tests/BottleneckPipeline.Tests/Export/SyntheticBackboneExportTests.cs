using BottleneckPipeline.Config;
using BottleneckPipeline.Evaluate.Export;
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

    [Fact]
    public void Nhwc_backbone_gets_transposed_custom_normalized_pixels()
    {
        using var dir = new TempDir();
        var preprocessing = ExportPreprocessing.From(BottleneckPipeline.Backbones.Preprocessing.MeanStd(NormalizationPreset.Custom, [0.5, 0.4, 0.3], [0.2, 0.25, 0.5]), Size, TensorLayout.Nhwc);
        var head = ExportTestImages.RandomHead(3, 3 * Size * Size, 0.3, 4);
        HeadExporter.ExportToFile(dir["m.onnx"], NhwcBackbone(), "features", preprocessing, head, new ExportProvenance("custom", "fp", "h"));

        var random = new BottleneckPipeline.Head.SeededRandom(8);
        var images = Enumerable.Range(0, 5).Select(_ => Enumerable.Range(0, 3 * Size * Size).Select(_ => (float)random.NextInt(256)).ToArray()).ToList();
        var expected = images.Select(image =>
        {
            // Reference written out by hand: per channel (x/255 - mean)/std, then CHW -> HWC.
            float[] mean = [0.5f, 0.4f, 0.3f], std = [0.2f, 0.25f, 0.5f];
            var hwc = new float[image.Length];
            for (var c = 0; c < 3; c++)
                for (var k = 0; k < Size * Size; k++)
                    hwc[k * 3 + c] = (image[c * Size * Size + k] / 255f - mean[c]) / std[c];
            return head.Probabilities(hwc);
        }).ToList();

        var check = ExportChecker.Check(dir["m.onnx"], images, expected);
        Assert.True(check.Passed, $"agreement {check.ArgmaxAgreement}, max diff {check.MaxAbsProbabilityDifference}");

        var exported = ModelProto.Parser.ParseFrom(File.ReadAllBytes(dir["m.onnx"]));
        Assert.DoesNotContain(exported.Graph.Node, n => n.Name == "old_classifier");
        Assert.DoesNotContain(exported.Graph.Initializer, t => t.Name == "old_w");
        Assert.Contains(exported.Graph.Node, n => n.OpType == "Transpose");
        Assert.DoesNotContain(exported.Graph.Node, n => n.OpType == "Gather");
    }
}
