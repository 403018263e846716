using System.Runtime.InteropServices;
using BottleneckPipeline.Backbones;
using BottleneckPipeline.Config;
using BottleneckPipeline.Embedding;
using BottleneckPipeline.Index;
using BottleneckPipeline.Quantization;
using BottleneckPipeline.Tests.Fixtures;
using Google.Protobuf;
using Onnx;

namespace BottleneckPipeline.Tests.Quantization;

/// <summary>
/// The quantizer on a small convolutional model built here (Conv 3->8 3x3 + Relu, Conv 8->8 1x1 + Relu,
/// GlobalAveragePool, Flatten, Gemm 8->4, random weights from a fixed seed), calibrated on real flower
/// photos through Extract's own preparation, and run by ONNX Runtime.
/// </summary>
public class QuantizerTests
{
    private const int Size = 16;

    private static readonly Int8Recipe U8S8Qdq = new(QdqFormat.U8S8, Int8Form.Qdq, FloatStem: false);

    [Fact]
    public void Every_conv_and_gemm_reads_quantized_inputs_and_per_channel_symmetric_int8_weights()
    {
        using var t = new TempDir();
        var (spec, sample, config) = Setup(t);
        var path = t["int8.onnx"];
        QuantizedBackbone.Build(spec, sample, config.Dataset.MaxPixels, new CalibrationChoice(CalibrationMethod.MinMax),
            new Int8Recipe(QdqFormat.U8S8, Int8Form.Qdq, FloatStem: false), path, CancellationToken.None);

        var model = ModelProto.Parser.ParseFrom(File.ReadAllBytes(path));
        var g = model.Graph;
        var producer = g.Node.SelectMany(n => n.Output.Select(o => (o, n))).ToDictionary(x => x.o, x => x.n);
        var init = g.Initializer.ToDictionary(i => i.Name);
        var targets = g.Node.Where(n => n.OpType is "Conv" or "Gemm").ToList();
        Assert.Equal(["Conv", "Conv", "Gemm"], targets.Select(n => n.OpType));
        Assert.DoesNotContain(g.Initializer, i => i.DataType == (int)TensorProto.Types.DataType.Float && i.Dims.Count > 1); // no float weight left
        foreach (var node in targets)
        {
            // Activation: Q -> DQ, uint8 with one scale.
            var dq = producer[node.Input[0]];
            Assert.Equal("DequantizeLinear", dq.OpType);
            Assert.Equal("QuantizeLinear", producer[dq.Input[0]].OpType);
            Assert.Equal((int)TensorProto.Types.DataType.Uint8, init[dq.Input[2]].DataType);

            // Weight: int8, one scale per output channel along axis 0 (Conv; Gemm with transB), zero points all 0.
            var wdq = producer[node.Input[1]];
            Assert.Equal("DequantizeLinear", wdq.OpType);
            var weight = init[wdq.Input[0]];
            Assert.Equal((int)TensorProto.Types.DataType.Int8, weight.DataType);
            var axis = wdq.Attribute.Single(a => a.Name == "axis").I;
            Assert.Equal(0, axis);
            var channels = weight.Dims[0];
            Assert.Equal(channels, init[wdq.Input[1]].Dims.Single());
            var zeroPoint = init[wdq.Input[2]];
            Assert.Equal((int)TensorProto.Types.DataType.Int8, zeroPoint.DataType);
            Assert.All(zeroPoint.RawData.ToByteArray(), b => Assert.Equal(0, b));
            // Symmetric: the largest magnitude of every channel maps to 127 or -127, and -128 is never used.
            var q = MemoryMarshal.Cast<byte, sbyte>(weight.RawData.Span).ToArray();
            var per = q.Length / (int)channels;
            for (var c = 0; c < channels; c++)
                Assert.Equal(127, q.Skip(c * per).Take(per).Max(v => Math.Abs((int)v)));
            Assert.DoesNotContain((sbyte)-128, q);

            // Bias: int32 at input scale x weight scale.
            var bdq = producer[node.Input[2]];
            Assert.Equal((int)TensorProto.Types.DataType.Int32, init[bdq.Input[0]].DataType);

            // Output quantized too (after the Relu that follows a Conv), so ONNX Runtime can fuse the group.
            var output = g.Node.Single(n => n.Input.Contains(node.Output[0]));
            var next = output.OpType == "Relu" ? g.Node.Single(n => n.Input.Contains(output.Output[0]) && n.OpType == "QuantizeLinear") : output;
            Assert.Equal("QuantizeLinear", next.OpType);
        }
        Assert.True(model.OpsetImport.Single(o => o.Domain == "").Version >= 13);
    }

    /// <summary>Tolerance: every output value within 3% of the float output's largest magnitude, and cosine
    /// above 0.999 per image (8-bit steps over a calibrated range, through three layers).</summary>
    [Theory]
    [InlineData(CalibrationMethod.MinMax)]
    [InlineData(CalibrationMethod.Percentile)]
    public void The_int8_model_gives_nearly_the_float_output(CalibrationMethod method)
    {
        var (floats, ints, images) = FloatAndInt8(method);
        var largest = floats.Max(MathF.Abs);
        Assert.True(largest > 0.1f, "the float model's features should not be near zero");
        Assert.False(floats.AsSpan().SequenceEqual(ints), "the int8 model gave exactly the float output: nothing was quantized");
        for (var i = 0; i < floats.Length; i++)
            Assert.True(MathF.Abs(floats[i] - ints[i]) <= 0.03f * largest, $"value {i}: float {floats[i]}, int8 {ints[i]} (largest {largest})");
        for (var image = 0; image < images; image++)
        {
            var cos = System.Numerics.Tensors.TensorPrimitives.CosineSimilarity(floats.AsSpan(image * 4, 4), ints.AsSpan(image * 4, 4));
            Assert.True(cos > 0.999f, $"image {image}: cosine {cos}");
        }
    }

    private static (float[] Floats, float[] Ints, int Images) FloatAndInt8(CalibrationMethod method)
    {
        using var t = new TempDir();
        var (spec, sample, config) = Setup(t);
        var path = t["int8.onnx"];
        QuantizedBackbone.Build(spec, sample, config.Dataset.MaxPixels, new CalibrationChoice(method), QuantizedBackbone.Recipe, path, CancellationToken.None);
        var int8 = QuantizedBackbone.Int8Spec(spec, path, "test");
        return (Embed(spec, sample), Embed(int8, sample), sample.Count);
    }

    [Fact]
    public void The_fingerprint_changes_with_the_calibration_set_method_and_format_and_only_with_them()
    {
        using var t = new TempDir();
        var (spec, sample, _) = Setup(t);
        var ids = sample.Select(w => w.ContentId).ToList();
        var fp = QuantizedBackbone.Fingerprint(spec, ids, new CalibrationChoice(CalibrationMethod.Percentile), U8S8Qdq);
        // a set: order does not matter
        Assert.Equal(fp, QuantizedBackbone.Fingerprint(spec, Enumerable.Reverse(ids), new CalibrationChoice(CalibrationMethod.Percentile), U8S8Qdq));
        Assert.NotEqual(fp, QuantizedBackbone.Fingerprint(spec, ids.Skip(1), new CalibrationChoice(CalibrationMethod.Percentile), U8S8Qdq));
        Assert.NotEqual(fp, QuantizedBackbone.Fingerprint(spec, ids, new CalibrationChoice(CalibrationMethod.MinMax), U8S8Qdq));
        Assert.NotEqual(fp, QuantizedBackbone.Fingerprint(spec, ids, new CalibrationChoice(CalibrationMethod.Percentile),
            U8S8Qdq with { Format = QdqFormat.S8S8 }));
        Assert.NotEqual(fp, QuantizedBackbone.Fingerprint(spec with { Fingerprint = "another-float-model" }, ids,
            new CalibrationChoice(CalibrationMethod.Percentile), U8S8Qdq));
        Assert.NotEqual(spec.Fingerprint, fp);
    }

    [Fact]
    public void Calibration_images_are_a_fixed_sample_of_the_train_split()
    {
        using var t = new TempDir();
        var data = TestIndex.CopyFlowers(t["data"], classes: 3, perClass: 4);
        using var db = IndexDb.Open(t["index.sqlite"]);
        TestIndex.Fill(db, data);
        var five = QuantizedBackbone.CalibrationSample(db, data, 5);
        Assert.Equal(5, five.Count);
        Assert.Equal(five.Select(w => w.ContentId), QuantizedBackbone.CalibrationSample(db, data, 5).Select(w => w.ContentId));
        // A larger sample keeps the smaller one's images (ranked, not reshuffled).
        Assert.Equal(five.Select(w => w.ContentId), QuantizedBackbone.CalibrationSample(db, data, 8).Take(5).Select(w => w.ContentId));
        // Not simply the first files: the ranking is a hash of the content.
        Assert.NotEqual(five.Select(w => w.RelPath),
            QuantizedBackbone.CalibrationSample(db, data, 12).Select(w => w.RelPath).Order(StringComparer.Ordinal).Take(5));
        // Only the train split.
        db.Command("UPDATE examples SET split = 'test';").ExecuteNonQuery();
        Assert.Empty(QuantizedBackbone.CalibrationSample(db, data, 5));
    }

    internal static float[] Embed(BackboneSpec spec, IReadOnlyList<ImageWork> images)
    {
        using var session = BackboneSession.Create(spec, threads: 1);
        var preparer = new ImagePreparer(spec, long.MaxValue);
        var input = new float[images.Count * spec.ValuesPerImage];
        for (var i = 0; i < images.Count; i++) Assert.Null(preparer.Prepare(images[i], input.AsSpan(i * spec.ValuesPerImage, spec.ValuesPerImage)));
        var output = Array.Empty<float>();
        session.Run(input, images.Count, ref output);
        return output[..(images.Count * session.Dimension)];
    }

    internal static (BackboneSpec Spec, List<ImageWork> Sample, PipelineConfig Config) Setup(TempDir t)
    {
        var data = TestIndex.CopyFlowers(t["data"], classes: 3, perClass: 4);
        File.WriteAllBytes(t["tiny.onnx"], TinyConvNet());
        var config = TestIndex.Config(t["cfg"], data,
            extra: $"backbone:\n  name: custom\n  onnx: {t["tiny.onnx"]}\n  normalization: imagenet\n  bottleneck: features\n");
        using var db = IndexDb.Open(config.IndexPath);
        TestIndex.Fill(db, data);
        return (BackboneFactory.Resolve(config), QuantizedBackbone.CalibrationSample(db, data, 12), config);
    }

    /// <summary>x [N,3,16,16] -> Conv 3->8 3x3 (pad 1) -> Relu -> Conv 8->8 1x1 -> Relu -> GlobalAveragePool -> Flatten -> Gemm 8->4 (transB)
    /// = "features".</summary>
    internal static byte[] TinyConvNet()
    {
        var rng = new Random(12);
        float[] Values(int n, double scale) => [.. Enumerable.Range(0, n).Select(_ => (float)((rng.NextDouble() - 0.5) * 2 * scale))];
        var model = new ModelProto { IrVersion = 7, ProducerName = "BottleneckPipeline.Tests", Graph = new GraphProto { Name = "tiny_conv_net" } };
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = 13 });
        var g = model.Graph;
        g.Input.Add(Info("x", 3, Size, Size));
        g.Output.Add(Info("features", 4));
        g.Initializer.AddRange([
            Tensor("w1", Values(8 * 3 * 9, 0.3), 8, 3, 3, 3), Tensor("b1", Values(8, 0.1), 8),
            Tensor("w2", Values(8 * 8, 0.4), 8, 8, 1, 1), Tensor("b2", Values(8, 0.1), 8),
            Tensor("w3", Values(4 * 8, 0.5), 4, 8), Tensor("b3", Values(4, 0.1), 4),
        ]);
        var conv1 = Node("Conv", ["x", "w1", "b1"], "c1");
        conv1.Attribute.Add(new AttributeProto { Name = "pads", Type = AttributeProto.Types.AttributeType.Ints, Ints = { 1, 1, 1, 1 } });
        var gemm = Node("Gemm", ["flat", "w3", "b3"], "features");
        gemm.Attribute.Add(new AttributeProto { Name = "transB", Type = AttributeProto.Types.AttributeType.Int, I = 1 });
        g.Node.AddRange([conv1, Node("Relu", ["c1"], "r1"), Node("Conv", ["r1", "w2", "b2"], "c2"), Node("Relu", ["c2"], "r2"),
                         Node("GlobalAveragePool", ["r2"], "pooled"), Node("Flatten", ["pooled"], "flat"), gemm]);
        return model.ToByteArray();
    }

    private static NodeProto Node(string op, string[] inputs, string output)
    {
        var n = new NodeProto { OpType = op, Name = op + "_" + output };
        n.Input.AddRange(inputs);
        n.Output.Add(output);
        return n;
    }

    private static TensorProto Tensor(string name, float[] values, params long[] dims)
    {
        var t = new TensorProto
        {
            Name = name,
            DataType = (int)TensorProto.Types.DataType.Float,
            RawData = ByteString.CopyFrom(MemoryMarshal.AsBytes(values.AsSpan())),
        };
        t.Dims.AddRange(dims);
        return t;
    }

    private static ValueInfoProto Info(string name, params long[] dims)
    {
        var shape = new TensorShapeProto();
        shape.Dim.Add(new TensorShapeProto.Types.Dimension { DimParam = "N" });
        foreach (var d in dims) shape.Dim.Add(new TensorShapeProto.Types.Dimension { DimValue = d });
        return new ValueInfoProto { Name = name, Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = 1, Shape = shape } } };
    }
}
