using BottleneckPipeline.Tests.Fixtures;
using BottleneckPipeline.Training;
using static BottleneckPipeline.Tests.Fixtures.TestModel;
using DataType = Onnx.TensorProto.Types.DataType;

namespace BottleneckPipeline.Tests.Training;

/// <summary>
/// Every op's gradient against central finite differences, through real ONNX Runtime sessions.
/// float64 where ORT's CPU provider runs the op (and its backward ops) in float64: BatchNormalization,
/// Relu, Add/Sub/Mul, Concat, Pad, Flatten/Reshape, Gemm, MatMul, Identity, Dropout. float32 with the
/// tolerance of <see cref="GradientCheck.Precision.Single"/> where it does not: Conv and ConvTranspose,
/// AveragePool, GlobalAveragePool, and MaxPool (its backward's Col2Im is float32 only).
/// </summary>
public class OpGradientTests
{
    private const int Batch = 2;

    private static void Check(TestModel m, string output, double[]? x = null, bool checkInput = true, TrainingGraphOptions? options = null,
        IEnumerable<string>? trainable = null)
    {
        m.Output(output);
        var region = m.Region(output, trainable);
        var graph = TrainingGraphBuilder.Build(region, new ProjectionLoss(), options);
        var forwardGraph = new ForwardGraph(m.Model);
        var outShape = forwardGraph.InferShapes(new Dictionary<string, long[]> { [m.Input] = [Batch, .. m.InputShape[1..]] })[output];
        var inputCount = Batch * m.InputShape.Skip(1).Aggregate(1L, (p, d) => p * d);
        var values = new Dictionary<string, double[]>
        {
            [m.Input] = x ?? GradientCheck.Gaussian(inputCount, 3),
            [graph.Targets] = GradientCheck.Gaussian(outShape.Aggregate(1L, (p, d) => p * d), 5),
        };
        var report = GradientCheck.Run(region, new ProjectionLoss(), values, checkInput, options: options);
        Assert.True(report.Checked > 0);
        Assert.Contains(report.Analytic.Values, g => g.Any(v => v != 0));
        report.AssertClean();
    }

    public static TheoryData<long, long, long, long, long, long, long, long, long, object> ConvCases => new()
    {
        // size, kernel h, kernel w, stride, pads (top, left, bottom, right), bias, form (object: the enum is internal to Training)
        { 6, 3, 3, 1, 1, 1, 1, 1, 1, ConvWeightGradientForm.GemmOverWindows },
        { 6, 3, 3, 1, 1, 1, 1, 1, 1, ConvWeightGradientForm.TransposedConv },
        { 8, 3, 3, 2, 1, 1, 0, 0, 0, ConvWeightGradientForm.GemmOverWindows }, // ResNet's downsampling 3x3, uneven pads
        { 8, 3, 3, 2, 1, 1, 0, 0, 0, ConvWeightGradientForm.TransposedConv },
        { 8, 3, 3, 2, 0, 0, 0, 0, 1, ConvWeightGradientForm.GemmOverWindows }, // a row the window never reaches: output_padding
        { 8, 3, 3, 2, 0, 0, 0, 0, 1, ConvWeightGradientForm.TransposedConv },
        { 7, 1, 1, 2, 0, 0, 0, 0, 0, ConvWeightGradientForm.GemmOverWindows }, // ResNet's 1x1 projection shortcut
        { 7, 1, 1, 1, 0, 0, 0, 0, 1, ConvWeightGradientForm.GemmOverWindows },
        { 12, 7, 7, 2, 3, 3, 2, 2, 0, ConvWeightGradientForm.TransposedConv }, // ResNet's stem
        { 12, 7, 7, 2, 3, 3, 2, 2, 0, ConvWeightGradientForm.GemmOverWindows },
        { 9, 1, 7, 1, 0, 3, 0, 3, 1, ConvWeightGradientForm.GemmOverWindows }, // Inception's 1x7 and 7x1
        { 9, 7, 1, 1, 3, 0, 3, 0, 1, ConvWeightGradientForm.GemmOverWindows },
    };

    [Theory]
    [MemberData(nameof(ConvCases))]
    public void Conv_with_any_kernel_stride_padding_and_bias_by_either_weight_gradient_form(
        long size, long kh, long kw, long stride, long top, long left, long bottom, long right, long bias, object form)
    {
        var m = new TestModel([Batch, 3, size, size]);
        string[] inputs = bias != 0 ? [m.Input, m.Weight("w", [4, 3, kh, kw]), m.Weight("b", [4])] : [m.Input, m.Weight("w", [4, 3, kh, kw])];
        var y = m.Node("Conv", inputs, Ints("kernel_shape", kh, kw), Ints("strides", stride, stride), Ints("pads", top, left, bottom, right));
        Check(m, y, options: new TrainingGraphOptions { ConvCompute = ConvComputeForm.Conv, ConvWeightGradient = (ConvWeightGradientForm)form });
    }

    /// <summary>The Gemm form (forward, dW and stride-1 dX as Gemms over window matrices), with its window matrix gathered
    /// again for dW or kept, against central differences of its own forward, and its gradients against the Conv form's,
    /// which are checked against ORT's Conv above.</summary>
    [Theory]
    [InlineData(6, 3, 3, 1, 1, 1, 1, 1, 1)]
    [InlineData(8, 3, 3, 2, 1, 1, 0, 0, 0)] // ResNet's downsampling 3x3: dX by ConvTranspose
    [InlineData(8, 3, 3, 2, 0, 0, 0, 0, 1)]
    [InlineData(7, 1, 1, 2, 0, 0, 0, 0, 0)]
    [InlineData(7, 1, 1, 1, 0, 0, 0, 0, 1)]
    [InlineData(12, 7, 7, 2, 3, 3, 2, 2, 0)]
    [InlineData(9, 1, 7, 1, 0, 3, 0, 3, 1)]
    [InlineData(8, 3, 3, 1, 0, 0, 2, 2, 0)] // pads k - 1 on one side: dY's windows pad 0 there
    public void Conv_as_gemms_over_window_matrices(long size, long kh, long kw, long stride, long top, long left, long bottom, long right, long bias)
    {
        var gradients = new List<IReadOnlyDictionary<string, double[]>>();
        TrainingGraphOptions[] forms =
        [
            new() { ConvCompute = ConvComputeForm.Gemm },
            new() { ConvCompute = ConvComputeForm.Conv },
        ];
        var gathers = new List<int>();
        foreach (var options in forms)
        {
            var m = new TestModel([Batch, 3, size, size]);
            string[] inputs = bias != 0 ? [m.Input, m.Weight("w", [4, 3, kh, kw]), m.Weight("b", [4])] : [m.Input, m.Weight("w", [4, 3, kh, kw])];
            var y = m.Node("Conv", inputs, Ints("kernel_shape", kh, kw), Ints("strides", stride, stride), Ints("pads", top, left, bottom, right));
            Check(m, y, options: options);
            var graph = TrainingGraphBuilder.Build(m.Region(y), new ProjectionLoss(), options, inputGradient: true);
            var nodes = Onnx.ModelProto.Parser.ParseFrom(graph.Model).Graph.Node;
            Assert.Equal(options.ConvCompute == ConvComputeForm.Gemm, nodes.All(n => n.OpType != "Conv"));
            gathers.Add(nodes.Count(n => n.OpType == "Gather" && n.Name.Contains("conv_cols", StringComparison.Ordinal)));
            var outShape = new ForwardGraph(m.Model).InferShapes(new Dictionary<string, long[]> { [m.Input] = [Batch, .. m.InputShape[1..]] })[y];
            gradients.Add(GradientCheck.Run(m.Region(y), new ProjectionLoss(), new Dictionary<string, double[]>
            {
                [m.Input] = GradientCheck.Gaussian(Batch * 3 * size * size, 3),
                [graph.Targets] = GradientCheck.Gaussian(outShape.Aggregate(1L, (p, d) => p * d), 5),
            }, checkInput: true, options: options).Analytic);
        }
        // A conv with windows other than its input's own pixels gathers them twice, for the forward and again for dW (the
        // matrix is not kept between the passes); at stride 1 dX gathers dY's windows too.
        var windowed = kh != 1 || kw != 1 || stride != 1 || top + left + bottom + right != 0;
        Assert.Equal(windowed ? (stride == 1 ? 3 : 2) : 0, gathers[0]);
        foreach (var (name, gemm) in gradients[0])
        {
            var conv = gradients[1][name];
            var scale = conv.Max(Math.Abs);
            for (var i = 0; i < gemm.Length; i++)
                Assert.True(Math.Abs(gemm[i] - conv[i]) <= 1e-4 * scale, $"{name}[{i}]: Gemm form {gemm[i]}, Conv form {conv[i]}");
        }
    }

    /// <summary>At stride 1 dX is a Conv with the flipped kernel by default (the cases above); the ConvTranspose form stays exact too.</summary>
    [Theory]
    [InlineData(6, 3, 3, 1, 1, 1, 1)]
    [InlineData(9, 1, 7, 0, 3, 0, 3)]
    [InlineData(8, 3, 3, 0, 0, 2, 2)] // pads k - 1 on one side: the flipped conv pads 0 there
    public void Conv_input_gradient_at_stride_1_by_either_form(long size, long kh, long kw, long top, long left, long bottom, long right)
    {
        foreach (var form in new[] { ConvInputGradientForm.Auto, ConvInputGradientForm.ConvTranspose })
        {
            var m = new TestModel([Batch, 3, size, size]);
            var y = m.Node("Conv", [m.Input, m.Weight("w", [4, 3, kh, kw])], Ints("kernel_shape", kh, kw), Ints("strides", 1, 1),
                Ints("pads", top, left, bottom, right));
            Check(m, y, options: new TrainingGraphOptions { ConvCompute = ConvComputeForm.Conv, ConvInputGradient = form });
        }
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void BatchNormalization_in_inference_mode_with_trained_or_frozen_scale_and_bias(bool trainScaleAndBias)
    {
        var m = new TestModel([Batch, 3, 4, 4], DataType.Double);
        var y = m.Node("BatchNormalization", [m.Input, .. m.BatchNormInputs("bn", 3)], Float("epsilon", 1e-3f));
        Check(m, y, trainable: trainScaleAndBias ? null : []);
    }

    [Fact]
    public void BatchNormalization_from_opset_8_with_its_spatial_attribute()
    {
        // The embedded ResNet-18's form: opset 8, spatial=1, momentum; rewritten for the training opset.
        var m = new TestModel([Batch, 3, 4, 4], DataType.Double, opset: 8);
        var y = m.Node("BatchNormalization", [m.Input, .. m.BatchNormInputs("bn", 3)], Int("spatial", 1), Float("epsilon", 1e-5f), Float("momentum", 0.9f));
        Check(m, y);
    }

    [Fact]
    public void Relu_on_inputs_away_from_its_kink()
    {
        var m = new TestModel([Batch, 3, 4, 4], DataType.Double);
        Check(m, m.Node("Relu", [m.Input]), GradientCheck.AwayFromZero(Batch * 48, 4));
    }

    [Fact]
    public void Add_of_same_shapes_and_of_a_broadcast_bias()
    {
        var m = new TestModel([Batch, 3, 4, 4], DataType.Double);
        var biased = m.Node("Add", [m.Input, m.Weight("b", [3, 1, 1])]);
        Check(m, m.Node("Add", [biased, m.Input]));
    }

    [Fact]
    public void Sub_and_Mul_with_broadcasting()
    {
        var m = new TestModel([Batch, 3, 4, 4], DataType.Double);
        var scaled = m.Node("Mul", [m.Input, m.Weight("s", [1, 3, 1, 1])]);
        Check(m, m.Node("Sub", [m.Weight("c", [4]), scaled]));
    }

    public static TheoryData<long, long, long, long, long, long, long, object> MaxPoolCases => new()
    {
        // size, kernel, stride, pads (top, left, bottom, right), form (object: the enum is internal to Training)
        { 8, 3, 2, 1, 1, 0, 0, MaxPoolGradientForm.WindowMasks },   // ResNet's stem pool, uneven pads
        { 8, 3, 2, 1, 1, 0, 0, MaxPoolGradientForm.IndicesScatter },
        { 9, 3, 2, 0, 0, 0, 0, MaxPoolGradientForm.WindowMasks },   // Inception's reduction pools
        { 9, 3, 2, 0, 0, 0, 0, MaxPoolGradientForm.IndicesScatter },
        { 8, 2, 2, 0, 0, 0, 0, MaxPoolGradientForm.WindowMasks },
        { 6, 3, 1, 1, 1, 1, 1, MaxPoolGradientForm.WindowMasks },
        { 6, 3, 1, 1, 1, 1, 1, MaxPoolGradientForm.IndicesScatter },
    };

    [Theory]
    [MemberData(nameof(MaxPoolCases))]
    public void MaxPool_with_any_kernel_stride_and_padding_by_either_gradient_form(
        long size, long kernel, long stride, long top, long left, long bottom, long right, object form)
    {
        var m = new TestModel([Batch, 3, size, size]);
        var y = m.Node("MaxPool", [m.Input], Ints("kernel_shape", kernel, kernel), Ints("strides", stride, stride), Ints("pads", top, left, bottom, right));
        // Gaps of 0.05 against steps of 0.01: no step changes which input wins a window.
        var options = new TrainingGraphOptions { MaxPoolGradient = (MaxPoolGradientForm)form };
        Check(m, y, GradientCheck.Spaced((int)(Batch * 3 * size * size), 0.05, 6), options: options);
    }

    [Fact]
    public void MaxPool_window_masks_give_a_tied_window_to_its_first_maximum_like_the_scatter_of_ORTs_own_indices()
    {
        // All-equal windows (zeros after a Relu): both forms must route each window's gradient once, to the same input.
        var m = new TestModel([Batch, 2, 6, 6]);
        var y = m.Node("MaxPool", [m.Input], Ints("kernel_shape", 3, 3), Ints("strides", 2, 2), Ints("pads", 1, 1, 0, 0));
        m.Output(y);
        var x = new double[Batch * 2 * 36];
        for (var i = 0; i < x.Length; i += 7) x[i] = 1;
        var values = new Dictionary<string, double[]> { [m.Input] = x, [ProjectionLoss.Upstream] = GradientCheck.Gaussian(Batch * 2 * 9, 2) };
        var masks = GradientCheck.Run(m.Region(y), new ProjectionLoss(), values, maxPerTensor: 0,
            options: new TrainingGraphOptions { MaxPoolGradient = MaxPoolGradientForm.WindowMasks }).Analytic[m.Input];
        var scatter = GradientCheck.Run(m.Region(y), new ProjectionLoss(), values, maxPerTensor: 0,
            options: new TrainingGraphOptions { MaxPoolGradient = MaxPoolGradientForm.IndicesScatter }).Analytic[m.Input];
        Assert.Equal(scatter, masks);
        Assert.Equal(values[ProjectionLoss.Upstream].Sum(), masks.Sum(), 4);
    }

    [Theory]
    [InlineData(7, 7, 1, 0, 0)] // ResNet's final 7x7 pool: a mean over the whole map
    [InlineData(6, 3, 1, 1, 0)]
    [InlineData(6, 3, 1, 1, 1)]
    [InlineData(7, 3, 2, 1, 0)]
    [InlineData(8, 2, 2, 0, 0)]
    public void AveragePool_with_any_kernel_stride_and_padding_counted_or_not(long size, long kernel, long stride, long pad, long countIncludePad)
    {
        var m = new TestModel([Batch, 3, size, size]);
        var y = m.Node("AveragePool", [m.Input], Ints("kernel_shape", kernel, kernel), Ints("strides", stride, stride), Ints("pads", pad, pad, pad, pad),
            Int("count_include_pad", countIncludePad));
        Check(m, y);
    }

    [Fact]
    public void GlobalAveragePool_over_a_map_that_is_not_square()
    {
        var m = new TestModel([Batch, 3, 5, 4]);
        Check(m, m.Node("GlobalAveragePool", [m.Input]));
    }

    [Fact]
    public void Pad_then_AveragePool_as_in_Inception_blocks()
    {
        // Inception-v3's branch_pool: an explicit Pad from a Constant node, then a 3x3 stride-1 AveragePool.
        var m = new TestModel([Batch, 3, 5, 5]);
        var pads = m.Node("Constant", [], new Onnx.AttributeProto
        {
            Name = "value",
            Type = Onnx.AttributeProto.Types.AttributeType.Tensor,
            T = OnnxTensorData.MakeInt64("pads", [0, 0, 1, 1, 0, 0, 1, 1], 8),
        });
        var padded = m.Node("Pad", [m.Input, pads], String("mode", "constant"));
        Check(m, m.Node("AveragePool", [padded], Ints("kernel_shape", 3, 3), Ints("strides", 1, 1), Ints("pads", 0, 0, 0, 0)));
    }

    [Theory]
    [InlineData(13)]
    [InlineData(2)] // pads as an attribute, rewritten for the training opset
    public void Pad_with_its_pads_as_an_input_or_as_an_attribute(int opset)
    {
        var m = new TestModel([Batch, 3, 4, 4], DataType.Double, opset: opset);
        var y = opset >= 11
            ? m.Node("Pad", [m.Input, m.Int64s("pads", 0, 0, 2, 1, 0, 0, 0, 3)])
            : m.Node("Pad", [m.Input], Ints("pads", 0, 0, 2, 1, 0, 0, 0, 3), Float("value", 0f));
        Check(m, y);
    }

    [Fact]
    public void Concat_along_channels()
    {
        var m = new TestModel([Batch, 3, 4, 4], DataType.Double);
        var branch = m.Node("Mul", [m.Input, m.Weight("s", [1, 3, 1, 1])]);
        var other = m.Node("Add", [m.Input, m.Weight("b", [1, 1, 1, 1])]);
        Check(m, m.Node("Concat", [branch, m.Input, other], Int("axis", 1)));
    }

    [Theory]
    [InlineData(0, 1, 1)] // a classifier: x W^T + b
    [InlineData(0, 0, 1)]
    [InlineData(1, 0, 2)] // transposed A, a [1, N] bias
    [InlineData(1, 1, 0)]
    public void Gemm_with_or_without_transposes_and_bias(long transA, long transB, int biasRank)
    {
        // A is the cut [2, 5], or its reshape [5, 2] used transposed; K is 5 either way.
        var m = new TestModel([Batch, 5], DataType.Double);
        var a = transA == 0 ? m.Input : m.Node("Reshape", [m.Input, m.Int64s("shape", 5, -1)]);
        var w = m.Weight("w", transB == 0 ? [5, 4] : [4, 5]);
        string[] inputs = biasRank switch { 0 => [a, w], 1 => [a, w, m.Weight("c", [4])], _ => [a, w, m.Weight("c", [1, 4])] };
        Check(m, m.Node("Gemm", inputs, Int("transA", transA), Int("transB", transB), Float("alpha", 0.7f), Float("beta", 1.3f)));
    }

    [Fact]
    public void MatMul_of_a_batch_of_rows_by_a_matrix()
    {
        var m = new TestModel([Batch, 3, 5], DataType.Double);
        Check(m, m.Node("MatMul", [m.Input, m.Weight("w", [5, 4])]));
    }

    [Fact]
    public void Flatten_then_a_classifier_as_Inception_ends()
    {
        var m = new TestModel([Batch, 6, 1, 1], DataType.Double);
        var flat = m.Node("Flatten", [m.Input], Int("axis", 1));
        Check(m, m.Node("Gemm", [flat, m.Weight("fc.weight", [3, 6]), m.Weight("fc.bias", [3])], Int("transB", 1)));
    }

    [Fact]
    public void Reshape_Squeeze_and_Unsqueeze()
    {
        var m = new TestModel([Batch, 3, 4], DataType.Double);
        var r = m.Node("Reshape", [m.Input, m.Int64s("shape", 0, 12, 1)]);
        var s = m.Node("Squeeze", [r, m.Int64s("axes", 2)]);
        Check(m, m.Node("Mul", [m.Node("Unsqueeze", [s, m.Int64s("axes2", 1)]), m.Weight("w", [1, 1, 12])]));
    }

    [Fact]
    public void Weights_shared_through_Identity_get_the_sum_of_their_uses()
    {
        // Inception's zero-weight file shares equal initializers through Identity nodes.
        var m = new TestModel([Batch, 3], DataType.Double);
        var w = m.Weight("w", [3]);
        var first = m.Node("Mul", [m.Input, m.Node("Identity", [w])]);
        var second = m.Node("Mul", [first, m.Node("Identity", [w])]);
        Check(m, m.Node("Dropout", [second]));
    }
}
