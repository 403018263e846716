using BottleneckPipeline.Backbones;
using BottleneckPipeline.Config;
using BottleneckPipeline.Index;
using BottleneckPipeline.Quantization;
using BottleneckPipeline.Tests.Fixtures;
using Onnx;

namespace BottleneckPipeline.Tests.Quantization;

/// <summary>The int8 graph's forms (QDQ, QLinearConv) and the float32 stem, on the embedded ResNet-18 or the
/// small test network, calibrated on real flower photos and run by ONNX Runtime.</summary>
public class Int8RecipeTests
{
    private static readonly CalibrationChoice MinMax = new(CalibrationMethod.MinMax);

    /// <summary>The two forms describe the same integer arithmetic, and ONNX Runtime runs both on its
    /// U8S8 convolution (it fuses the QDQ groups into QLinearConv): measured bitwise equal; the tolerance
    /// (1e-4 of the largest feature) leaves room only for a differently ordered float sum.</summary>
    [Fact]
    public void The_QLinearConv_form_gives_the_QDQ_forms_vectors_on_real_flowers()
    {
        using var t = new TempDir();
        var data = TestIndex.CopyFlowers(t["data"], classes: 4, perClass: 2);
        var config = TestIndex.Config(t["cfg"], data);
        using var db = IndexDb.Open(config.IndexPath);
        TestIndex.Fill(db, data);
        var spec = BackboneFactory.Resolve(config);
        var images = QuantizedBackbone.CalibrationSample(db, data, 8);
        var model = FloatGraph.Optimized(spec);
        var plan = QdqPlan.For(model.Graph, spec.BottleneckTensor);
        var ranges = Calibrator.Ranges(spec, model, plan, images, config.Dataset.MaxPixels, CalibrationMethod.MinMax, 0, CancellationToken.None);
        var floats = QuantizerTests.Embed(spec, images);

        var vectors = new Dictionary<Int8Form, float[]>();
        foreach (var form in Enum.GetValues<Int8Form>())
        {
            var copy = model.Clone();
            var formPlan = QdqPlan.For(copy.Graph, spec.BottleneckTensor);
            QuantizedBackbone.Quantize(copy, formPlan, ranges, new Int8Recipe(QdqFormat.U8S8, form, FloatStem: false));
            var path = t[$"{form}.onnx"];
            File.WriteAllBytes(path, Google.Protobuf.MessageExtensions.ToByteArray(copy));
            if (form == Int8Form.Operator)
            {
                Assert.DoesNotContain(copy.Graph.Node, n => n.OpType == "Conv");
                Assert.Equal(model.Graph.Node.Count(n => n.OpType == "Conv"), copy.Graph.Node.Count(n => n.OpType == "QLinearConv"));
                Assert.All(copy.Graph.Node,
                    n => Assert.True(n.Domain is "" or "ai.onnx", $"{n.OpType} is in domain {n.Domain}: model.onnx must stay standard ONNX"));
                // Nothing left over: every initializer is read (the float weights and the biases' DQ parameters are gone).
                var read = copy.Graph.Node.SelectMany(n => n.Input).ToHashSet(StringComparer.Ordinal);
                Assert.All(copy.Graph.Initializer, i => Assert.Contains(i.Name, read));
            }
            vectors[form] = QuantizerTests.Embed(QuantizedBackbone.Int8Spec(spec, path, form.ToString()), images);
        }

        var (qdq, op) = (vectors[Int8Form.Qdq], vectors[Int8Form.Operator]);
        var largest = qdq.Max(MathF.Abs);
        Assert.False(qdq.AsSpan().SequenceEqual(floats), "the int8 model gave exactly the float output: nothing was quantized");
        for (var i = 0; i < qdq.Length; i++)
            Assert.True(MathF.Abs(qdq[i] - op[i]) <= 1e-4f * largest, $"feature {i}: QDQ {qdq[i]}, QLinearConv {op[i]} (largest {largest})");
        Assert.True(System.Numerics.Tensors.TensorPrimitives.CosineSimilarity(floats, op) > 0.99f, "the QLinearConv form should still be close to float32");
    }

    // The form is an Int8Form, passed as object: the enum is internal to the Backbones library and a test method is public.
    [Theory]
    [InlineData(Int8Form.Qdq)]
    [InlineData(Int8Form.Operator)]
    public void A_float32_stem_leaves_the_convolution_on_the_image_unquantized(object form)
    {
        using var t = new TempDir();
        var (spec, sample, config) = QuantizerTests.Setup(t);
        var path = t["int8.onnx"];
        var recipe = new Int8Recipe(QdqFormat.U8S8, (Int8Form)form, FloatStem: true);
        QuantizedBackbone.Build(spec, sample, config.Dataset.MaxPixels, MinMax, recipe, path, CancellationToken.None);
        var g = ModelProto.Parser.ParseFrom(File.ReadAllBytes(path)).Graph;
        var init = g.Initializer.ToDictionary(i => i.Name);

        // The image is read only by the stem, a plain float Conv with float weights: nothing quantizes it.
        var readers = g.Node.Where(n => n.Input.Contains("x")).ToList();
        var stem = Assert.Single(readers);
        Assert.Equal("Conv", stem.OpType);
        Assert.Equal((int)TensorProto.Types.DataType.Float, init[stem.Input[1]].DataType);
        Assert.Equal(4, init[stem.Input[1]].Dims.Count);
        // The rest is int8: the second convolution reads int8 weights (QDQ) or is a QLinearConv.
        if (recipe.Form == Int8Form.Operator) Assert.Single(g.Node, n => n.OpType == "QLinearConv");
        else Assert.Single(g.Node, n => n.OpType == "Conv" && n != stem && g.Node.Any(d => d.OpType == "DequantizeLinear" && d.Output.Contains(n.Input[1])));
        Assert.Contains(g.Node, n => n.OpType == "QuantizeLinear");

        var int8 = QuantizerTests.Embed(QuantizedBackbone.Int8Spec(spec, path, "stem"), sample);
        var floats = QuantizerTests.Embed(spec, sample);
        Assert.False(floats.AsSpan().SequenceEqual(int8), "nothing was quantized");
        for (var image = 0; image < sample.Count; image++)
        {
            var cos = System.Numerics.Tensors.TensorPrimitives.CosineSimilarity(floats.AsSpan(image * 4, 4), int8.AsSpan(image * 4, 4));
            Assert.True(cos > 0.999f, $"image {image}: cosine {cos}");
        }
    }

    [Fact]
    public void The_fingerprint_changes_with_the_form_the_stem_and_the_percentile_where_percentile_calibrates()
    {
        using var t = new TempDir();
        var (spec, sample, _) = QuantizerTests.Setup(t);
        var ids = sample.Select(w => w.ContentId).ToList();
        var recipe = QuantizedBackbone.Recipe;
        var percentile = new CalibrationChoice(CalibrationMethod.Percentile, 99.999);
        var fp = QuantizedBackbone.Fingerprint(spec, ids, percentile, recipe);
        Assert.NotEqual(fp, QuantizedBackbone.Fingerprint(spec, ids, percentile with { Percentile = 99.99 }, recipe));
        Assert.NotEqual(fp, QuantizedBackbone.Fingerprint(spec, ids, percentile, recipe with { Form = Int8Form.Qdq }));
        Assert.NotEqual(fp, QuantizedBackbone.Fingerprint(spec, ids, percentile, recipe with { FloatStem = true }));
        // The percentile means nothing to min-max: changing it rebuilds nothing.
        Assert.Equal(QuantizedBackbone.Fingerprint(spec, ids, MinMax, recipe),
            QuantizedBackbone.Fingerprint(spec, ids, MinMax with { Percentile = 99.9 }, recipe));
        // The config's default is the measured choice.
        Assert.Equal(percentile, CalibrationChoice.From(new BackboneConfig()));
    }
}
