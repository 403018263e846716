using BottleneckPipeline.Backbones;
using BottleneckPipeline.Tests.Fixtures;
using BottleneckPipeline.Training;
using Onnx;

namespace BottleneckPipeline.Tests.Training;

/// <summary>Stage boundaries found from the graphs of the two backbones, and their trainable regions.</summary>
public class BackboneStagesTests
{
    private static readonly Lazy<ModelProto> ResNet = new(() => ModelProto.Parser.ParseFrom(File.ReadAllBytes(BackboneFactory.EmbeddedResNet18Path)));
    private static readonly Lazy<ModelProto> Inception = new(() => ModelProto.Parser.ParseFrom(File.ReadAllBytes(RepoPaths.InceptionZeroWeights)));

    private static BackboneStages ResNetStages() => BackboneStages.Find(ResNet.Value, "Input247", [1, 3, 224, 224], "Pooling395_Output_0");
    private static BackboneStages InceptionStages() => BackboneStages.Find(Inception.Value, "input", [1, 3, 299, 299], "/Flatten_output_0");

    [Fact]
    public void ResNet18_stages_end_where_the_spatial_size_halves()
    {
        var stages = ResNetStages();
        // Image; stem conv output after its relu (112, before the max pool); then the inputs of layer2, layer3 and layer4.
        Assert.Equal(["Input247", "ReLU253_Output_0", "ReLU283_Output_0", "ReLU315_Output_0", "ReLU347_Output_0"], stages.Boundaries.Select(b => b.Tensor));
        Assert.Equal([-1, 256, 14, 14], stages.Cut(TrainableDepth.LastStage).Shape);
        Assert.Equal([-1, 128, 28, 28], stages.Cut(TrainableDepth.LastTwoStages).Shape);
        Assert.Equal("Input247", stages.Cut(TrainableDepth.All).Tensor);
    }

    [Fact]
    public void ResNet18_last_stage_trains_its_three_blocks_convolutions_and_batchnorm_scales_but_never_statistics()
    {
        var region = ResNetStages().Region(TrainableDepth.LastStage);
        var graph = new ForwardGraph(ResNet.Value);
        var convWeights = region.Trainable.Count(t => graph.Consumers(t).Any(n => n.OpType == "Conv"));
        var bnWeights = region.Trainable.Count(t => graph.Consumers(t).Any(n => n.OpType == "BatchNormalization"));
        Assert.Equal(7, convWeights); // 3 blocks x 2 convs + the 1x1 projection
        Assert.Equal(14, bnWeights); // scale and bias of 7 BatchNorms
        Assert.DoesNotContain(region.Trainable, t => graph.Consumers(t).Any(n => n.OpType == "BatchNormalization" && (n.Input[3] == t || n.Input[4] == t)));
        var count = region.Trainable.Sum(t => graph.Initializer(t)!.Dims.Aggregate(1L, (p, d) => p * d));
        Assert.InRange(count, 13_000_000, 13_200_000); // 13.1 M of the model's 15.9 M
    }

    [Fact]
    public void Inception_v3_stages_end_at_its_reduction_blocks()
    {
        var stages = InceptionStages();
        Assert.Equal(["input", "/Conv2d_2b_3x3/Relu_output_0", "/Conv2d_4a_3x3/Relu_output_0", "/Mixed_5d/Concat_output_0", "/Mixed_6e/Concat_output_0"],
            stages.Boundaries.Select(b => b.Tensor));
        Assert.Equal([-1, 768, 17, 17], stages.Cut(TrainableDepth.LastStage).Shape); // Mixed_7a..7c train
        Assert.Equal([-1, 288, 35, 35], stages.Cut(TrainableDepth.LastTwoStages).Shape); // Mixed_6a..7c train
    }

    [Fact]
    public void An_op_the_shape_inference_does_not_know_is_refused_naming_the_op_and_its_node()
    {
        // A MobileNetV3-like tail: conv, hard-swish (no shape rule), pooling, flatten.
        var m = new TestModel([1, 3, 16, 16]);
        var conv = m.Node("Conv", [m.Input, m.Weight("w", [8, 3, 3, 3])], TestModel.Ints("pads", 1, 1, 1, 1));
        var swish = m.Node("HardSwish", [conv]);
        var features = m.Node("Flatten", [m.Node("GlobalAveragePool", [swish])]);
        m.Output(features);

        var e = Assert.Throws<UnsupportedOperatorException>(() => BackboneStages.Find(m.Model, m.Input, [1, 3, 16, 16], features));
        Assert.Equal("HardSwish", e.OpType);
        Assert.Equal("hardswish_1", e.NodeName);
        Assert.Contains("node 'hardswish_1' (op HardSwish)", e.Message, StringComparison.Ordinal);
        Assert.Contains("shape inference", e.Message, StringComparison.Ordinal);
        Assert.Equal(BottleneckPipeline.Runtime.ExitCodes.BadConfig, e.ExitCode);
    }

    [Theory]
    [InlineData(TrainableDepth.LastStage)]
    [InlineData(TrainableDepth.LastTwoStages)]
    [InlineData(TrainableDepth.All)]
    public void Every_op_of_both_backbones_trainable_parts_has_a_gradient(TrainableDepth depth)
    {
        foreach (var stages in new[] { ResNetStages(), InceptionStages() })
        {
            var region = stages.Region(depth);
            var graph = TrainingGraphBuilder.Build(region, new SoftmaxCrossEntropy(5));
            Assert.Equal(region.Trainable.Count + 2, graph.Parameters.Count);
            Assert.All(graph.Parameters, p => Assert.False(string.IsNullOrEmpty(p.GradientName)));
        }
    }

    [Fact]
    public void ResNet18_last_stage_gradients_match_central_differences_with_its_real_weights()
    {
        var region = ResNetStages().Region(TrainableDepth.LastStage);
        var input = GradientCheck.Gaussian(256 * 14 * 14, 4).Select(Math.Abs).ToArray(); // a relu output
        var values = new Dictionary<string, double[]>
        {
            [region.CutTensor] = input,
            [SoftmaxCrossEntropy.Targets] = [0, 0, 1, 0, 0],
            [SoftmaxCrossEntropy.HeadWeight] = GradientCheck.Gaussian(5 * 512, 5, 0.05),
            [SoftmaxCrossEntropy.HeadBias] = GradientCheck.Gaussian(5, 6, 0.05),
        };
        // Two coordinates (drawn by a fixed seed) of the cut, the head, and every tensor of the first
        // block: its strided 3x3 conv, the 1x1 projection, their BatchNorms, the second conv.
        var firstBlock = new HashSet<string>
        {
            "Parameter32", "Parameter327", "Parameter328", "Parameter351", "Parameter355", "Parameter28", "Parameter341", "Parameter342",
        };
        var report = GradientCheck.Run(region, new SoftmaxCrossEntropy(5), values, checkInput: true, maxPerTensor: 2,
            precision: new GradientCheck.Precision(1e-2, 5e-2, 1e-4),
            include: t => firstBlock.Contains(t) || t == region.CutTensor || t.StartsWith("head.", StringComparison.Ordinal));
        Assert.True(firstBlock.IsSubsetOf(region.Trainable));
        Assert.Equal(2 * (firstBlock.Count + 3), report.Checked);
        report.AssertClean();
    }
}
